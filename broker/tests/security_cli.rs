//! The security of the real binary: `minikafka-broker users add|remove|list`, a broker
//! started with `--listeners` and `--sasl-users` (one start-up line per listener, saying
//! how it is protected), the log lines of a failed and a successful login, and bad
//! security flags refused with the reason.

use std::process::Stdio;

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use minikafka_testkit::wire::Client;
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_minikafka-broker");

fn users(args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(BIN)
        .arg("users")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run minikafka-broker users");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("users finishes")
}

#[test]
fn users_add_list_and_remove_keep_only_credentials() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("users.txt");
    let f = file.to_str().expect("utf8 path");

    let out = users(
        &["add", "alice", "--file", f, "--password", "alice-secret"],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("user alice saved"));
    // The password from standard input, one mechanism only.
    let out = users(
        &["add", "bob", "--file", f, "--mechanism", "SCRAM-SHA-512"],
        Some("bob-secret\n"),
    );
    assert!(out.status.success(), "{out:?}");

    let text = std::fs::read_to_string(&file).expect("the user file");
    assert!(!text.contains("secret"), "no password is stored:\n{text}");
    assert!(text.contains("alice SCRAM-SHA-256 salt="), "{text}");
    assert!(text.contains("bob SCRAM-SHA-512 salt="), "{text}");

    let out = users(&["list", "--file", f], None);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        listed,
        "alice\tSCRAM-SHA-256,SCRAM-SHA-512,PLAIN\nbob\tSCRAM-SHA-512,PLAIN\n"
    );

    assert!(users(&["remove", "alice", "--file", f], None)
        .status
        .success());
    let out = users(&["remove", "alice", "--file", f], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no user \"alice\""),
        "{out:?}"
    );
    let out = users(
        &[
            "add",
            "carol",
            "--file",
            f,
            "--mechanism",
            "PLAIN",
            "--password",
            "x",
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "PLAIN has no credential of its own"
    );
    let out = users(&["add", "dave", "--file", f], Some("\n"));
    assert_eq!(out.status.code(), Some(1), "an empty password is refused");
    assert_eq!(
        String::from_utf8_lossy(&users(&["list", "--file", f], None).stdout),
        "bob\tSCRAM-SHA-512,PLAIN\n"
    );
}

#[test]
fn bad_security_flags_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1), "{args:?} must fail: {out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(&["--listeners", "CLIENT://127.0.0.1:0"]);
    assert!(err.contains("listener.security.protocol.map"), "{err}");
    let err = run(&["--listeners", "SASL_PLAINTEXT://127.0.0.1:0"]);
    assert!(err.contains("--sasl-users"), "{err}");
    let err = run(&["--listeners", "SSL://127.0.0.1:0"]);
    assert!(err.contains("--ssl-certificate"), "{err}");
    let err = run(&["--ssl-certificate", "c.pem", "--listen", "127.0.0.1:0"]);
    assert!(err.contains("--ssl-key"), "{err}");
    assert!(!data.exists(), "a refused start leaves no data dir behind");
}

/// The next line of the broker's output that contains `want`.
async fn next_line(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    want: &str,
) -> String {
    minikafka_testkit::within(want, async {
        loop {
            let line = lines
                .next_line()
                .await
                .expect("read")
                .expect("the broker runs");
            if line.contains(want) {
                return line;
            }
        }
    })
    .await
}

#[tokio::test]
async fn the_broker_says_how_each_listener_is_protected_and_logs_each_login() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("users.txt");
    let f = file.to_str().expect("utf8 path");
    assert!(
        users(&["add", "alice", "--file", f, "--password", "pw"], None)
            .status
            .success()
    );
    let mut broker = tokio::process::Command::new(BIN)
        .args([
            "--listeners",
            "PLAINTEXT://127.0.0.1:0,CLIENT://127.0.0.1:0",
            "--listener-security-protocol-map",
            "CLIENT:SASL_PLAINTEXT",
            "--sasl-users",
            f,
            "--connection-failed-authentication-delay-ms",
            "0",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run minikafka-broker");
    let mut lines = BufReader::new(broker.stdout.take().expect("stdout")).lines();
    let plaintext = next_line(&mut lines, "listening on").await;
    assert!(
        plaintext.contains("(loopback: only this machine can connect; PLAINTEXT: no encryption, no authentication;"),
        "{plaintext}"
    );
    let sasl = next_line(&mut lines, "listening on").await;
    assert!(
        sasl.contains("SASL_PLAINTEXT: SASL authentication (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN), no encryption"),
        "{sasl}"
    );
    let addr: std::net::SocketAddr = sasl
        .split_once("listening on ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .expect("address")
        .parse()
        .expect("addr");

    for (password, want) in [
        ("nope", "authentication failed"),
        ("pw", "authenticated User:alice"),
    ] {
        let mut client = Client::connect(addr).await;
        let hs: SaslHandshakeResponse = client
            .call(
                ApiKey::SaslHandshake,
                1,
                &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
            )
            .await;
        assert_eq!(hs.error_code, 0);
        let _: SaslAuthenticateResponse = client
            .call(
                ApiKey::SaslAuthenticate,
                1,
                &SaslAuthenticateRequest::default()
                    .with_auth_bytes(Bytes::from(format!("\0alice\0{password}"))),
            )
            .await;
        let line = next_line(&mut lines, want).await;
        assert!(
            line.contains("CLIENT://127.0.0.1"),
            "the listener is named: {line}"
        );
        assert!(
            !line.contains(password) || password == "pw" && !line.contains("\0pw"),
            "{line}"
        );
        if password == "nope" {
            assert!(line.contains("wrong password for user \"alice\""), "{line}");
            assert!(
                line.contains("127.0.0.1"),
                "the client's address is in the line: {line}"
            );
        }
    }
    broker.kill().await.expect("stop the broker");
}
