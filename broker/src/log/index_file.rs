//! A memory-mapped file of fixed-size index entries: what the offset index (`.index`,
//! see `index.rs`) and the time index (`.timeindex`, see `time_index.rs`) both are.
//! Each kind of entry says how long it is, how it is encoded, and which entry may
//! follow which ([`Entry`]); this file does the rest: open, append, truncate,
//! preallocate, trim, sync.
//!
//! Flow: partition log → segment append → **an entry appended here** (every
//! `index.interval.bytes`) → page cache (msync on flush) → disk on `sync`.
//!
//! What must stay true:
//! - While a segment is active its index files are preallocated (to
//!   `segment.index.bytes`; after a clean open, only from the log's first change) and
//!   the unused tail is zeros. [`IndexFile::open`] reads
//!   entries only while each may follow the one before ([`Entry::follows`]), so a
//!   zeroed tail (or garbage after a crash) is never read as entries.
//! - Entries are in memory as well, so lookups do not decode the file. They are read
//!   with plain reads on open; the file is mapped only when an entry is written or
//!   cleared ([`IndexFile::writable`]). A sealed segment's index is never written, so
//!   it is never mapped: its pages are not counted in the broker's memory, and opening
//!   it costs no `mmap`.
//! - The file is trimmed to exactly its entries on roll and on close.
//! - The map is dropped before the file's length changes, so no access can fall past
//!   the end of the file.
//! - No write through the map lands on a block the file system has not allocated: a
//!   preallocated file is sparse (`ftruncate`), and a store into a hole needs a new
//!   block, which on a full disk the kernel can only refuse with SIGBUS. So blocks are
//!   allocated with a real `fallocate` ([`ALLOCATE_CHUNK`] bytes at a time,
//!   `storage::allocate`) before the map reaches them: when the file is grown (the
//!   first chunk, at segment creation and roll) and when an entry reaches the next
//!   chunk. A full disk is an ENOSPC error there, with nothing changed. Zeroing the
//!   entries after a truncation punches a hole (`FALLOC_FL_PUNCH_HOLE`), which frees
//!   blocks rather than needing them.
//! - Writes through the map tell the storage seam what they overwrite
//!   (`storage::before_map_write`), for its simulated power cut.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use memmap2::MmapMut;

use super::storage;
use super::LogError;

/// Bytes of an index file allocated at a time (see the module docs): 8,192 offset
/// entries. A segment's indexes then hold at most this much more disk than their
/// entries, not the whole `segment.index.bytes`.
pub const ALLOCATE_CHUNK: u64 = 64 * 1024;

/// One kind of index entry.
pub trait Entry: Copy + std::fmt::Debug + PartialEq {
    /// Bytes per entry on disk.
    const LEN: usize;
    /// Decodes one entry from exactly [`Entry::LEN`] bytes.
    fn decode(bytes: &[u8]) -> Self;
    /// Encodes into exactly [`Entry::LEN`] bytes.
    fn encode(&self, out: &mut [u8]);
    /// Whether this entry may come after `prev` (`None`: it would be the first). Open
    /// stops reading at the first entry that may not; append refuses it.
    fn follows(&self, prev: Option<&Self>) -> bool;
}

/// Reads the valid entries from raw index bytes: they stop at the first entry that may
/// not follow the one before. Used by [`IndexFile::open`] and by `inspect`.
pub fn parse<E: Entry>(bytes: &[u8]) -> Vec<E> {
    let mut out: Vec<E> = Vec::new();
    for chunk in bytes.chunks_exact(E::LEN) {
        let e = E::decode(chunk);
        if !e.follows(out.last()) {
            break;
        }
        out.push(e);
    }
    out
}

/// An index file, memory-mapped while it is written. Owned by its `Segment`; not
/// synchronised itself.
pub struct IndexFile<E> {
    path: PathBuf,
    file: File,
    /// The file's length in bytes.
    len: u64,
    /// `None` until something is written ([`IndexFile::writable`]), and always when the
    /// file is shorter than one entry (it cannot be mapped).
    mmap: Option<MmapMut>,
    /// The first `allocated` bytes of the file have their blocks (see the module docs);
    /// 0 until known.
    allocated: u64,
    entries: Vec<E>,
}

impl<E> std::fmt::Debug for IndexFile<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexFile")
            .field("path", &self.path)
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// Maps `file` read-write.
#[allow(unsafe_code)]
fn map(file: &File, path: &Path) -> Result<MmapMut, LogError> {
    // SAFETY: the index file is private to this broker's data directory (which the
    // broker locks, see `topics/lock.rs`) and this process holds the only handle that
    // writes it (one `IndexFile` per file, behind the partition's mutex). The map is
    // dropped before the file is resized (`resize`), so no access can fall past the
    // end of the file.
    let map = unsafe { MmapMut::map_mut(file) }.map_err(|e| LogError::io(path, e))?;
    // Entries are written one page after another into a preallocated, sparse file.
    // Without this, the first write into each page would make the kernel read ahead
    // (zero-fill) a whole window of pages, a cost that showed as a fifth of the
    // broker's CPU under small produce requests (docs/benchmarks.md).
    map.advise(memmap2::Advice::Random)
        .map_err(|e| LogError::io(path, e))?;
    Ok(map)
}

/// Reads the valid entries from the start of `file` (`len` bytes long), a chunk at a
/// time, with the rule of [`parse`]: a preallocated file's zero tail is not read past
/// the chunk where the entries end.
fn read_entries<E: Entry>(file: &File, path: &Path, len: u64) -> Result<Vec<E>, LogError> {
    const CHUNK_ENTRIES: u64 = 4096;
    let whole = len / E::LEN as u64 * E::LEN as u64;
    let mut entries: Vec<E> = Vec::new();
    let mut buf = vec![0u8; whole.min(CHUNK_ENTRIES * E::LEN as u64) as usize];
    let mut pos = 0;
    while pos < whole {
        let n = (whole - pos).min(buf.len() as u64) as usize;
        file.read_exact_at(&mut buf[..n], pos)
            .map_err(|e| LogError::io(path, e))?;
        for chunk in buf[..n].chunks_exact(E::LEN) {
            let e = E::decode(chunk);
            if !e.follows(entries.last()) {
                return Ok(entries);
            }
            entries.push(e);
        }
        pos += n as u64;
    }
    Ok(entries)
}

impl<E: Entry> IndexFile<E> {
    /// Opens or creates the file and reads its entries (not mapped: see the module
    /// docs). With `preallocate = Some(bytes)` (the active segment) the file is grown
    /// to that size; its zero tail is ignored.
    pub fn open(path: &Path, preallocate: Option<u32>) -> Result<IndexFile<E>, LogError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| LogError::io(path, e))?;
        let len = file.metadata().map_err(|e| LogError::io(path, e))?.len();
        let entries = read_entries(&file, path, len)?;
        let mut index = IndexFile {
            path: path.to_path_buf(),
            file,
            len,
            mmap: None,
            allocated: 0,
            entries,
        };
        if let Some(bytes) = preallocate {
            index.resize(bytes)?;
        }
        Ok(index)
    }

    /// The map to write entries through, made on first use. `None` when the file is
    /// shorter than one entry (nothing to write into).
    fn writable(&mut self) -> Result<Option<&mut MmapMut>, LogError> {
        if self.mmap.is_none() && self.len >= E::LEN as u64 {
            self.mmap = Some(map(&self.file, &self.path)?);
        }
        Ok(self.mmap.as_mut())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn entries(&self) -> &[E] {
        &self.entries
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// How many entries fit in the current file.
    pub fn capacity(&self) -> usize {
        (self.len / E::LEN as u64) as usize
    }
    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.capacity()
    }
    pub fn last(&self) -> Option<E> {
        self.entries.last().copied()
    }

    /// Appends an entry; refuses one that may not follow the last or does not fit.
    pub fn append(&mut self, e: E) -> Result<(), LogError> {
        if self.is_full() {
            return Err(self.corrupt(format!("index is full ({} entries)", self.len())));
        }
        if !e.follows(self.entries.last()) {
            return Err(self.corrupt(format!("entry {e:?} does not follow {:?}", self.last())));
        }
        let at = self.entries.len() * E::LEN;
        self.ensure_allocated((at + E::LEN) as u64)?;
        if self.writable()?.is_some() {
            if storage::recording(&self.path) {
                if let Some(m) = &self.mmap {
                    storage::before_map_write(&self.path, at as u64, &m[at..at + E::LEN]);
                }
            }
            if let Some(m) = self.mmap.as_mut() {
                e.encode(&mut m[at..at + E::LEN]);
            }
        }
        self.entries.push(e);
        Ok(())
    }

    /// Allocates the blocks up to `end` (rounded up to a whole [`ALLOCATE_CHUNK`], at
    /// most the file's length) if they are not yet: ENOSPC here, never SIGBUS later.
    fn ensure_allocated(&mut self, end: u64) -> Result<(), LogError> {
        if end <= self.allocated {
            return Ok(());
        }
        let target = end
            .div_ceil(ALLOCATE_CHUNK)
            .saturating_mul(ALLOCATE_CHUNK)
            .min(self.len);
        storage::allocate(&self.file, &self.path, self.allocated, target)
            .map_err(|e| LogError::io(&self.path, e))?;
        self.allocated = target;
        Ok(())
    }

    fn corrupt(&self, reason: String) -> LogError {
        LogError::Corrupt {
            path: self.path.clone(),
            reason,
        }
    }

    /// Keeps the first `keep` entries, zeroing the bytes of the rest of the file so a
    /// later open cannot read them back.
    pub fn truncate_entries(&mut self, keep: usize) -> Result<(), LogError> {
        let keep = keep.min(self.entries.len());
        let before = self.entries.len();
        self.entries.truncate(keep);
        let from = (keep * E::LEN) as u64;
        if self.len <= from {
            return Ok(());
        }
        if self.mmap.is_some() && storage::recording(&self.path) {
            // Only the entries' bytes change: the tail after them is zeros.
            let end = ((before * E::LEN) as u64).clamp(from, self.len);
            if let Some(m) = &self.mmap {
                storage::before_map_write(&self.path, from, &m[from as usize..end as usize]);
            }
        }
        // A hole reads as zeros, and frees the blocks instead of needing them.
        let punched = storage::punch_hole(&self.file, &self.path, from, self.len)
            .map_err(|e| LogError::io(&self.path, e))?;
        if punched {
            // The block holding `from` is still allocated (zeroed in part); the ones
            // after it are holes again.
            self.allocated = self.allocated.min(from / 4096 * 4096);
        } else {
            // No holes on this file system: write the zeros.
            self.ensure_allocated(self.len)?;
            if let Some(m) = self.writable()? {
                m[from as usize..].fill(0);
            }
        }
        Ok(())
    }

    /// Replaces every entry (index rebuild), zeroing the rest of the file.
    pub fn reset(&mut self, entries: &[E]) -> Result<(), LogError> {
        self.truncate_entries(0)?;
        if entries.len() > self.capacity() {
            self.resize((entries.len() * E::LEN) as u32)?;
        }
        for e in entries {
            self.append(*e)?;
        }
        Ok(())
    }

    /// Sets the file size to `bytes` (rounded down to whole entries, never below the
    /// entries in use) and maps it again.
    pub fn resize(&mut self, bytes: u32) -> Result<(), LogError> {
        let want = (bytes as usize / E::LEN).max(self.entries.len()) * E::LEN;
        if want as u64 == self.len {
            return Ok(()); // already that size: no `ftruncate`
        }
        if want < self.capacity() * E::LEN {
            // A trim (roll, close): the entries reach the disk before the file shrinks.
            // Growing (preallocation on open) needs no msync: unmapping a shared map
            // keeps its pages in the page cache, and every open paid one per partition.
            self.flush()?;
        }
        self.mmap = None;
        let old = self.len;
        self.file
            .set_len(want as u64)
            .map_err(|e| LogError::io(&self.path, e))?;
        self.len = want as u64;
        self.allocated = self.allocated.min(self.len);
        if self.len > old {
            // Growing (a new active segment): the chunk where the next entry goes is
            // allocated now, so a full disk shows here, at creation or roll.
            let next = ((self.entries.len() + 1) * E::LEN) as u64;
            if let Err(e) = self.ensure_allocated(next) {
                // Back to the length it had, so the file is as before the call.
                let _ = self.file.set_len(old);
                self.len = old;
                self.allocated = self.allocated.min(old);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Trims the file to exactly the entries in use (on roll and close).
    pub fn trim(&mut self) -> Result<(), LogError> {
        if self.capacity() == self.entries.len() {
            return Ok(()); // already exactly its entries
        }
        self.resize((self.entries.len() * E::LEN) as u32)
    }

    /// Writes dirty pages back (msync); no fsync of metadata.
    pub fn flush(&self) -> Result<(), LogError> {
        if let Some(m) = &self.mmap {
            m.flush().map_err(|e| LogError::io(&self.path, e))?;
        }
        Ok(())
    }

    /// `flush` plus `sync_data` on the file (its size may have changed).
    pub fn sync(&self) -> Result<(), LogError> {
        self.flush()?;
        storage::sync_data(&self.file, &self.path).map_err(|e| LogError::io(&self.path, e))
    }

    /// Closes the map and deletes the file (a missing file is fine).
    pub fn delete(self) -> Result<(), LogError> {
        let path = self.path.clone();
        drop(self);
        storage::forget(&path);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(LogError::io(&path, e)),
        }
    }
}
