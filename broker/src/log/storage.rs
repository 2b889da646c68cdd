//! The storage seam: every write, allocation and sync of a segment's files goes through
//! here ([`write_at`], [`allocate`], [`punch_hole`], [`before_map_write`],
//! [`sync_data`]), so that a
//! test can run the log on a [`SimulatedDisk`]: a disk that fills up (ENOSPC), fails
//! (EIO), or loses power and with it every write not yet synced.
//!
//! Flow: partition log → segment append → **storage seam** → page cache → disk.
//!
//! In production no disk is installed and each call is the plain system call after one
//! relaxed atomic load ([`INSTALLED`]): the seam costs nothing on the hot path.
//!
//! # What a simulated disk does
//!
//! | knob                           | effect on the files under its root                |
//! |--------------------------------|---------------------------------------------------|
//! | [`SimulatedDisk::set_space`]   | `Some(n)`: writes and allocations may take `n` more bytes; a write beyond that is written in part, then fails with ENOSPC, as a real full disk does |
//! | [`SimulatedDisk::fail_writes`] | every write, allocation and sync fails with that error (EIO, say) |
//! | [`SimulatedDisk::fail_syncs`]  | every `sync_data` fails with that error; writes still work |
//! | [`SimulatedDisk::power_cut`]   | copies the files as a power cut at this instant would leave them on disk |
//!
//! The power cut: before each write the seam records how to undo it (the file's length
//! before an append, the bytes an index entry overwrites), and a `sync_data` forgets
//! the records older than the sync. A power cut copies the directory and undoes, in the
//! copy, every write still recorded: the page cache's unsynced writes are dropped.
//! With [`Tear::Random`] each file keeps a random part of them instead: a random prefix
//! of the appended bytes (a write torn in the middle) and a random subset of the index
//! entries, as a disk that wrote back some dirty pages and not others; [`Tear::Zeros`]
//! also makes the end of that prefix zeros (the length reached the disk, the data not).
//!
//! What must stay true:
//! - The undo record is taken *before* the write it undoes, and a sync only forgets
//!   records taken before the sync started: a power cut never keeps a write that no
//!   sync covered.
//! - A power cut holds the disk's lock while it copies, so no record is added or
//!   forgotten meanwhile (a write already under way is undone in the copy).
//! - Metadata is taken as durable when it happens (create, `ftruncate`, rename,
//!   delete, and the small files written with temp file + fsync + rename): the
//!   simulation drops data, not directory entries. The cleaner's own files are written
//!   outside the seam and synced before they are swapped in.

use std::collections::HashMap;
use std::fs::File;
use std::io::IoSlice;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Whether any simulated disk is installed. Read once per call: `false` in production.
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// The installed disks, each for the files under its root.
static DISKS: Mutex<Vec<Arc<SimulatedDisk>>> = Mutex::new(Vec::new());

fn disks() -> MutexGuard<'static, Vec<Arc<SimulatedDisk>>> {
    DISKS.lock().unwrap_or_else(|p| p.into_inner())
}

/// The simulated disk holding `path`, if any (never any in production).
fn disk_for(path: &Path) -> Option<Arc<SimulatedDisk>> {
    if !INSTALLED.load(Ordering::Relaxed) {
        return None;
    }
    disks().iter().find(|d| d.under(path).is_some()).cloned()
}

/// How a write is undone by a power cut.
#[derive(Debug, Clone)]
enum Undo {
    /// An append: the file was this long before it.
    Truncate(u64),
    /// A write in place (an index entry through the map): these bytes were there.
    Restore { position: u64, bytes: Vec<u8> },
}

#[derive(Debug, Default)]
struct State {
    /// Bytes that may still be written; `None`: unlimited.
    space: Option<u64>,
    /// Every write, allocation and sync fails with this (a raw OS error number).
    fail: Option<i32>,
    /// Every sync fails with this.
    fail_syncs: Option<i32>,
    /// Numbers the undo records, so a sync forgets only the older ones.
    seq: u64,
    /// Undo records per file, oldest first, with their sequence numbers.
    unsynced: HashMap<PathBuf, Vec<(u64, Undo)>>,
}

/// How much of the unsynced writes a power cut keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tear {
    /// None of them: every file as its last sync left it.
    DropAll,
    /// A random part of them (seeded): a prefix of each file's appended bytes, a
    /// subset of its index entries.
    Random(u64),
    /// As `Random`, but the end of the kept appended bytes reads as zeros: the file's
    /// new length reached the disk and the last of its data did not.
    Zeros(u64),
}

/// A disk for tests, over the files under `root` (a broker's data dir). See the module
/// docs; [`SimulatedDisk::install`] puts it in place, and dropping the returned guard
/// removes it.
#[derive(Debug)]
pub struct SimulatedDisk {
    /// The root as given and, if it differs, as `canonicalize` spells it.
    roots: Vec<PathBuf>,
    state: Mutex<State>,
}

/// Removes its disk when dropped.
#[derive(Debug)]
pub struct Installed(Arc<SimulatedDisk>);

impl std::ops::Deref for Installed {
    type Target = SimulatedDisk;
    fn deref(&self) -> &SimulatedDisk {
        &self.0
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let mut all = disks();
        all.retain(|d| !Arc::ptr_eq(d, &self.0));
        INSTALLED.store(!all.is_empty(), Ordering::Relaxed);
    }
}

impl SimulatedDisk {
    /// Puts a simulated disk under `root`: the log's files there go through it from
    /// now on (install it before the broker opens them). Unlimited space, no faults.
    pub fn install(root: &Path) -> Installed {
        let mut roots = vec![root.to_path_buf()];
        if let Ok(canonical) = root.canonicalize() {
            if canonical != root {
                roots.push(canonical);
            }
        }
        let disk = Arc::new(SimulatedDisk {
            roots,
            state: Mutex::new(State::default()),
        });
        let mut all = disks();
        all.push(disk.clone());
        INSTALLED.store(true, Ordering::Relaxed);
        Installed(disk)
    }

    /// `path` relative to the root, if it lies under it.
    fn under<'p>(&self, path: &'p Path) -> Option<&'p Path> {
        self.roots.iter().find_map(|r| path.strip_prefix(r).ok())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Some(n)`: only `n` more bytes fit (0: the disk is full). `None`: unlimited.
    pub fn set_space(&self, bytes: Option<u64>) {
        self.state().space = bytes;
    }

    /// Bytes that still fit (`None`: unlimited).
    pub fn space(&self) -> Option<u64> {
        self.state().space
    }

    /// `Some(errno)`: every write, allocation and sync fails with it (`libc`'s EIO is
    /// 5). `None`: no faults.
    pub fn fail_writes(&self, errno: Option<i32>) {
        self.state().fail = errno;
    }

    /// `Some(errno)`: every `sync_data` fails with it, writes still work (the disk
    /// could not write back what the page cache holds). `None`: no faults.
    pub fn fail_syncs(&self, errno: Option<i32>) {
        self.state().fail_syncs = errno;
    }

    /// How many writes are not synced yet, over all files.
    pub fn unsynced_writes(&self) -> usize {
        self.state().unsynced.values().map(Vec::len).sum()
    }

    /// Copies the files under the root into `dest` (an empty directory) as a power cut
    /// now would leave them: the writes no sync covered are undone, all of them or, with
    /// [`Tear::Random`], a random part. The broker keeps running on the real files.
    pub fn power_cut(&self, dest: &Path, tear: Tear) -> std::io::Result<()> {
        let state = self.state();
        copy_tree(&self.roots[0], dest)?;
        let (mut rng, zeros) = match tear {
            Tear::DropAll => (None, false),
            Tear::Random(seed) => (Some(SplitMix(seed)), false),
            Tear::Zeros(seed) => (Some(SplitMix(seed)), true),
        };
        let mut paths: Vec<&PathBuf> = state.unsynced.keys().collect();
        paths.sort(); // the same seed tears the same way
        for path in paths {
            let Some(rel) = self.under(path) else {
                continue;
            };
            let copy = dest.join(rel);
            let Ok(file) = std::fs::OpenOptions::new().write(true).open(&copy) else {
                continue; // deleted since: nothing to undo
            };
            undo(&file, &state.unsynced[path], rng.as_mut(), zeros)?;
        }
        Ok(())
    }

    /// Takes `len` bytes of space: `Ok(len)` if they fit, else what fits (then ENOSPC),
    /// taken too when `partial` (a write), none of it otherwise (an allocation).
    fn take(&self, len: u64, partial: bool) -> Result<u64, std::io::Error> {
        let mut st = self.state();
        if let Some(errno) = st.fail {
            return Err(std::io::Error::from_raw_os_error(errno));
        }
        match st.space {
            Some(left) if left < len => {
                if partial {
                    st.space = Some(0);
                }
                Ok(left)
            }
            Some(left) => {
                st.space = Some(left - len);
                Ok(len)
            }
            None => Ok(len),
        }
    }

    fn record(&self, path: &Path, undo: Undo) {
        let mut st = self.state();
        st.seq += 1;
        let seq = st.seq;
        st.unsynced
            .entry(path.to_path_buf())
            .or_default()
            .push((seq, undo));
    }
}

/// Undoes `records` (oldest first) in `file`: all of them, or with `rng` a random part
/// (`zeros`: the end of the appended part kept reads as zeros).
fn undo(
    file: &File,
    records: &[(u64, Undo)],
    rng: Option<&mut SplitMix>,
    zeros: bool,
) -> std::io::Result<()> {
    let len = file.metadata()?.len();
    // Appends: back to the shortest length recorded, or a random length between it
    // and the current one (a prefix of the appended bytes reached the disk).
    let shortest = records
        .iter()
        .filter_map(|(_, u)| match u {
            Undo::Truncate(n) => Some(*n),
            Undo::Restore { .. } => None,
        })
        .min();
    let mut rng = rng;
    // In place, newest first, so the oldest bytes win; torn: each write may stay.
    for (_, u) in records.iter().rev() {
        if let Undo::Restore { position, bytes } = u {
            let keep = rng.as_mut().is_some_and(|r| r.next() % 2 == 0);
            if !keep && position + bytes.len() as u64 <= len {
                file.write_all_at(bytes, *position)?;
            }
        }
    }
    if let Some(shortest) = shortest.filter(|&s| s < len) {
        let cut = match rng {
            Some(r) => {
                let cut = shortest + r.next() % (len - shortest + 1);
                if zeros && cut > shortest {
                    let from = shortest + r.next() % (cut - shortest);
                    file.write_all_at(&vec![0; (cut - from) as usize], from)?;
                }
                cut
            }
            None => shortest,
        };
        file.set_len(cut)?;
    }
    Ok(())
}

/// Copies the directory tree `from` into `to` (regular files and directories).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            match std::fs::copy(entry.path(), &target) {
                Ok(_) => {}
                // Deleted meanwhile (retention): the power cut came after.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// A small seeded generator (SplitMix64): a power cut tears the same way for a seed.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Writes `parts` back to back at `position`, the end of `file` (`path`): one
/// `pwritev`, more only if the kernel writes less. On a simulated disk that is full,
/// only what fits is written before ENOSPC, as a real disk does; the caller cuts the
/// file back.
pub fn write_at(file: &File, path: &Path, parts: &[&[u8]], position: u64) -> std::io::Result<()> {
    let Some(disk) = disk_for(path) else {
        return pwritev_all(file, parts, position);
    };
    let total: u64 = parts.iter().map(|p| p.len() as u64).sum();
    disk.record(path, Undo::Truncate(position));
    let fits = disk.take(total, true)?;
    if fits == total {
        return pwritev_all(file, parts, position);
    }
    let whole = parts.concat();
    file.write_all_at(&whole[..fits as usize], position)?;
    Err(std::io::Error::from_raw_os_error(
        rustix::io::Errno::NOSPC.raw_os_error(),
    ))
}

fn pwritev_all(file: &File, parts: &[&[u8]], position: u64) -> std::io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let mut bufs = &mut slices[..];
    let mut position = position;
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match rustix::io::pwritev(file, bufs, position) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                position += n as u64;
                IoSlice::advance_slices(&mut bufs, n);
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Allocates the blocks of bytes `from..to` of `file` (inside its length) with a real
/// `fallocate`, so that a write through a memory map there never finds a hole: on a
/// full disk this fails with ENOSPC now, instead of a SIGBUS at the first touch of a
/// page. Where the file system cannot allocate (EOPNOTSUPP) it does nothing: the
/// file stays sparse, as `ftruncate` made it.
pub fn allocate(file: &File, path: &Path, from: u64, to: u64) -> std::io::Result<()> {
    if to <= from {
        return Ok(());
    }
    if let Some(disk) = disk_for(path) {
        if disk.take(to - from, false)? < to - from {
            return Err(std::io::Error::from_raw_os_error(
                rustix::io::Errno::NOSPC.raw_os_error(),
            ));
        }
    }
    let mode = rustix::fs::FallocateFlags::KEEP_SIZE;
    match rustix::fs::fallocate(file, mode, from, to - from) {
        Ok(()) | Err(rustix::io::Errno::OPNOTSUPP) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Makes bytes `from..to` of `file` read as zeros by punching a hole: the blocks are
/// freed, none is needed (a full disk cannot refuse it). `false` when the file system
/// cannot punch holes (EOPNOTSUPP): the caller writes the zeros itself.
pub fn punch_hole(file: &File, path: &Path, from: u64, to: u64) -> std::io::Result<bool> {
    if to <= from {
        return Ok(true);
    }
    if let Some(disk) = disk_for(path) {
        if let Some(errno) = disk.state().fail {
            return Err(std::io::Error::from_raw_os_error(errno));
        }
    }
    let mode = rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE;
    match rustix::fs::fallocate(file, mode, from, to - from) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::OPNOTSUPP) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Called before bytes `position..position + old.len()` of `path` are overwritten
/// through a memory map (`old`: what is there now), so a power cut can restore them.
/// Nothing when no disk is installed.
pub fn before_map_write(path: &Path, position: u64, old: &[u8]) {
    if let Some(disk) = disk_for(path) {
        disk.record(
            path,
            Undo::Restore {
                position,
                bytes: old.to_vec(),
            },
        );
    }
}

/// Whether writes under `path` are recorded (a simulated disk is installed): callers
/// skip the copy of the old bytes otherwise.
pub fn recording(path: &Path) -> bool {
    INSTALLED.load(Ordering::Relaxed) && disk_for(path).is_some()
}

/// `sync_data` on `file` (`path`): its writes so far reach the disk, and a simulated
/// power cut no longer undoes them.
pub fn sync_data(file: &File, path: &Path) -> std::io::Result<()> {
    let Some(disk) = disk_for(path) else {
        return file.sync_data();
    };
    let started = {
        let st = disk.state();
        if let Some(errno) = st.fail.or(st.fail_syncs) {
            return Err(std::io::Error::from_raw_os_error(errno));
        }
        st.seq
    };
    file.sync_data()?;
    let mut st = disk.state();
    if let Some(records) = st.unsynced.get_mut(path) {
        records.retain(|(seq, _)| *seq > started);
        if records.is_empty() {
            st.unsynced.remove(path);
        }
    }
    Ok(())
}

/// The file at `path` was deleted: its unsynced writes are gone with it.
pub fn forget(path: &Path) {
    if let Some(disk) = disk_for(path) {
        disk.state().unsynced.remove(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_power_cut_drops_what_no_sync_covered() {
        let dir = tempfile::tempdir().unwrap();
        let disk = SimulatedDisk::install(dir.path());
        let path = dir.path().join("a.log");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .unwrap();
        write_at(&file, &path, &[b"synced "], 0).unwrap();
        sync_data(&file, &path).unwrap();
        write_at(&file, &path, &[b"lost"], 7).unwrap();
        let cut = tempfile::tempdir().unwrap();
        disk.power_cut(cut.path(), Tear::DropAll).unwrap();
        assert_eq!(std::fs::read(cut.path().join("a.log")).unwrap(), b"synced ");
        assert_eq!(std::fs::read(&path).unwrap(), b"synced lost");
        let torn = tempfile::tempdir().unwrap();
        disk.power_cut(torn.path(), Tear::Random(7)).unwrap();
        let got = std::fs::read(torn.path().join("a.log")).unwrap();
        assert!(
            b"synced lost".starts_with(&got) && got.len() >= 7,
            "{got:?}"
        );
    }

    #[test]
    fn a_full_disk_writes_what_fits_then_fails_with_enospc() {
        let dir = tempfile::tempdir().unwrap();
        let disk = SimulatedDisk::install(dir.path());
        let path = dir.path().join("b.log");
        let file = File::create(&path).unwrap();
        disk.set_space(Some(5));
        let e = write_at(&file, &path, &[b"0123", b"456789"], 0).unwrap_err();
        assert_eq!(
            e.raw_os_error(),
            Some(rustix::io::Errno::NOSPC.raw_os_error())
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"01234");
        file.set_len(4096).unwrap();
        assert!(allocate(&file, &path, 0, 4096).is_err());
        disk.set_space(None);
        allocate(&file, &path, 0, 4096).unwrap();
        assert_eq!(file.metadata().unwrap().len(), 4096, "KEEP_SIZE");
        disk.fail_writes(Some(5));
        let e = sync_data(&file, &path).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(5));
    }
}
