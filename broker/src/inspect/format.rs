//! Small formatting helpers for `inspect`: bytes as UTF-8 or hex, timestamps as UTC.
//!
//! Where it sits: beside the message path, used only by `inspect dump` to print records.
//!
//! What must stay true:
//! - Pure functions of their input: no clock, no time zone, no I/O.
//! - Nothing is lost: non-UTF-8 bytes print as full hex, a null key or value as `null`
//!   (distinct from the empty string `""`), a negative timestamp as the number itself.

/// A key, value or header value as `inspect` shows it: its text when the bytes are
/// UTF-8, its hex otherwise (`None` for null). In JSON: `{"text": …}` or `{"hex": …}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shown {
    Text(String),
    Hex(String),
}

impl Shown {
    pub fn new(b: Option<&[u8]>) -> Option<Shown> {
        let b = b?;
        Some(match std::str::from_utf8(b) {
            Ok(s) => Shown::Text(s.to_string()),
            Err(_) => Shown::hex(b),
        })
    }

    /// Always hex, for bytes that are numbers even when they happen to be valid UTF-8
    /// (a control record's key and value).
    pub fn hex(b: &[u8]) -> Shown {
        let mut hex = String::with_capacity(2 * b.len());
        for byte in b {
            hex.push_str(&format!("{byte:02x}"));
        }
        Shown::Hex(hex)
    }
}

/// `"text"` (escaped like a Rust string), `0x…` hex, or `null` for a null key or value.
pub fn shown(s: Option<&Shown>) -> String {
    match s {
        None => "null".to_string(),
        Some(Shown::Text(t)) => format!("{t:?}"),
        Some(Shown::Hex(h)) => format!("0x{h}"),
    }
}

/// Milliseconds since the epoch as `ms (YYYY-MM-DDTHH:MM:SS.mmmZ)`; `-1` stays `-1`.
pub fn timestamp(ms: i64) -> String {
    if ms < 0 {
        return ms.to_string();
    }
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, min, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{ms} ({y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let bytes = |b: Option<&[u8]>| shown(Shown::new(b).as_ref());
        assert_eq!(bytes(Some(b"hi")), "\"hi\"");
        assert_eq!(bytes(Some(&[0xff, 0x00])), "0xff00");
        assert_eq!(bytes(None), "null");
        assert_eq!(timestamp(-1), "-1");
        assert_eq!(timestamp(0), "0 (1970-01-01T00:00:00.000Z)");
        assert_eq!(
            timestamp(1_700_000_000_123),
            "1700000000123 (2023-11-14T22:13:20.123Z)"
        );
    }
}
