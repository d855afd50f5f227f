//! A bus error (SIGBUS) on a memory-mapped file becomes an error exit (1) that names the file.
//!
//! SQLite maps the store's `-shm` file (the WAL index) into memory. When
//! that file fails under the process (made read-only, truncated, or on a
//! full disk), the next access to the mapping raises SIGBUS, which would
//! kill the process with no word. No error can be returned from there:
//! the faulting access cannot be resumed. So the handler finds the mapped
//! file that holds the faulting address in `/proc/self/maps`, says what
//! happened on stderr, and exits 1. The process stops mid-run as if it had
//! crashed, and the next run recovers the run as after a crash; for the
//! store's `-shm` the handler also appends the reason to the store's exits
//! file (`DATABASE.exits`), which the store adds to the run's errors, so
//! that the history says why.
//!
//! Alternatives weighed: `PRAGMA locking_mode=EXCLUSIVE` keeps the WAL
//! index in heap memory (no `-shm` mapping) but locks every other process
//! out of the store for the life of the connection: `tandem status`, the
//! daemon and a second `tandem sync` could no longer read it, nor see the
//! run that holds a pair. Checking that the `-shm` file is writable before
//! a run cannot see a change made during the run.
//!
//! The handler uses only async-signal-safe calls (`open`, `read`, `write`,
//! `fsync`, `close`, `_exit`) on buffers of its own stack: no allocation, no
//! lock.

use std::ffi::c_void;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// This process as a run's owner (`host:pid`), for the exits file.
static OWNER: OnceLock<String> = OnceLock::new();

/// Set by the first thread that takes a bus error.
static STRUCK: AtomicBool = AtomicBool::new(false);

/// The longest path the handler reports (Linux's `PATH_MAX`).
const PATH_MAX: usize = 4096;

/// Installs the handler. Call it once, early in `main`.
pub fn exit_on_bus_error() {
    let _ = OWNER.set(tandem_core::store::owner());
    // SAFETY: the action is fully initialised (zeroed, then its handler,
    // flags and empty mask set); the handler has the SA_SIGINFO signature.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_bus_error as *const () as usize;
        // A second bus error inside the handler kills the process.
        action.sa_flags = libc::SA_SIGINFO | libc::SA_RESETHAND;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
    }
}

extern "C" fn on_bus_error(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut c_void) {
    if STRUCK.swap(true, Ordering::SeqCst) {
        // Another thread is reporting and exits the process.
        loop {
            // SAFETY: pause only waits for a signal.
            unsafe { libc::pause() };
        }
    }
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler;
    // for SIGBUS it carries the faulting address.
    let addr = unsafe { (*info).si_addr() } as usize;
    let mut path = [0u8; PATH_MAX];
    let file = mapped_file(addr, &mut path);
    let mut out = Buf::<{ PATH_MAX + 512 }>::new();
    out.push(b"error: bus error (SIGBUS) on ");
    match file {
        Some(file) if file.ends_with(b"-shm") => {
            out.push(b"the state store's shared memory ");
            out.push(file);
            out.push(
                b": the file was made read-only or truncated, or its disk is full, while the \
                  process used it; a run it was doing stops here, and the next run recovers it\n",
            );
            note_exit(&file[..file.len() - 4], file);
        }
        Some(file) => {
            out.push(b"the memory-mapped file ");
            out.push(file);
            out.push(
                b": the file was made read-only or truncated, or its disk is full, while the \
                  process used it\n",
            );
        }
        None => {
            out.push(b"memory at 0x");
            out.hex(addr);
            out.push(b"\n");
        }
    }
    // SAFETY: write and _exit are async-signal-safe; the buffer is ours.
    unsafe {
        libc::write(2, out.bytes().as_ptr().cast(), out.len);
        libc::_exit(1);
    }
}

/// Appends the reason to the exits file of the store at `database`, as
/// one JSON line (`{"owner": ..., "message": ...}`), and flushes it.
fn note_exit(database: &[u8], shm: &[u8]) {
    let Some(owner) = OWNER.get() else {
        return;
    };
    let mut name = Buf::<{ PATH_MAX + 16 }>::new();
    name.push(database);
    name.push(b".exits\0");
    if name.full {
        return;
    }
    let mut line = Buf::<{ 2 * PATH_MAX + 512 }>::new();
    line.push(b"{\"owner\":\"");
    line.escaped(owner.as_bytes());
    line.push(b"\",\"message\":\"its process stopped on a bus error (SIGBUS) on the state store's shared memory ");
    line.escaped(shm);
    line.push(b": the file was made read-only or truncated, or its disk is full\"}\n");
    if line.full {
        return;
    }
    // SAFETY: open, write, fsync and close are async-signal-safe; the name
    // is NUL-terminated and the buffers are ours.
    unsafe {
        let fd = libc::open(
            name.bytes().as_ptr().cast(),
            libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC,
            0o644,
        );
        if fd >= 0 {
            libc::write(fd, line.bytes().as_ptr().cast(), line.len);
            libc::fsync(fd);
            libc::close(fd);
        }
    }
}

/// The file mapped at `addr`, from `/proc/self/maps`, copied into `path`.
fn mapped_file(addr: usize, path: &mut [u8; PATH_MAX]) -> Option<&[u8]> {
    // SAFETY: the name is NUL-terminated.
    let fd = unsafe {
        libc::open(
            c"/proc/self/maps".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    let mut chunk = [0u8; 4096];
    let mut line = Buf::<{ PATH_MAX + 256 }>::new();
    let mut found = None;
    'read: loop {
        // SAFETY: reads into our own buffer, at most its length.
        let n = unsafe { libc::read(fd, chunk.as_mut_ptr().cast(), chunk.len()) };
        if n <= 0 {
            break;
        }
        for &b in chunk.iter().take(n as usize) {
            if b != b'\n' {
                line.push(&[b]);
                continue;
            }
            if !line.full
                && let Some(file) = file_at(line.bytes(), addr)
            {
                let len = file.len().min(PATH_MAX);
                path[..len].copy_from_slice(&file[..len]);
                found = Some(len);
                break 'read;
            }
            line.clear();
        }
    }
    // SAFETY: closes the descriptor opened above.
    unsafe { libc::close(fd) };
    found.map(|len| &path[..len])
}

/// The path of a `/proc/self/maps` line (`start-end perms offset dev inode
/// path`) whose range holds `addr`; `None` for other lines and for
/// mappings of no file.
fn file_at(line: &[u8], addr: usize) -> Option<&[u8]> {
    let mut fields = line.splitn(6, |&b| b == b' ');
    let (start, end) = split_once(fields.next()?, b'-')?;
    if !(hex(start)? <= addr && addr < hex(end)?) {
        return None;
    }
    let path = fields.nth(4)?.trim_ascii_start();
    path.starts_with(b"/").then_some(path)
}

fn split_once(s: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|&b| b == sep)?;
    Some((&s[..i], &s[i + 1..]))
}

fn hex(s: &[u8]) -> Option<usize> {
    let mut n: usize = 0;
    for &b in s {
        let d = (b as char).to_digit(16)? as usize;
        n = n.checked_mul(16)?.checked_add(d)?;
    }
    (!s.is_empty()).then_some(n)
}

/// A fixed buffer on the stack; what does not fit is dropped and `full`
/// set.
struct Buf<const N: usize> {
    data: [u8; N],
    len: usize,
    full: bool,
}

impl<const N: usize> Buf<N> {
    fn new() -> Self {
        Buf {
            data: [0; N],
            len: 0,
            full: false,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let room = N - self.len;
        let take = bytes.len().min(room);
        self.data[self.len..self.len + take].copy_from_slice(&bytes[..take]);
        self.len += take;
        self.full |= take < bytes.len();
    }

    /// Pushes `bytes` as the inside of a JSON string.
    fn escaped(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                b'"' | b'\\' => self.push(&[b'\\', b]),
                0..=0x1f => self.push(b"?"),
                _ => self.push(&[b]),
            }
        }
    }

    fn hex(&mut self, n: usize) {
        let digits = b"0123456789abcdef";
        let mut tmp = [0u8; 16];
        let mut i = tmp.len();
        let mut n = n;
        loop {
            i -= 1;
            tmp[i] = digits[n % 16];
            n /= 16;
            if n == 0 || i == 0 {
                break;
            }
        }
        self.push(&tmp[i..]);
    }

    fn clear(&mut self) {
        self.len = 0;
        self.full = false;
    }

    fn bytes(&self) -> &[u8] {
        &self.data[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_file_of_an_address() {
        let line = b"7f12a000-7f12b000 rw-s 00000000 fd:01 1234                       /tmp/x y/tandem.db-shm";
        assert_eq!(
            file_at(line, 0x7f12a010),
            Some(&b"/tmp/x y/tandem.db-shm"[..])
        );
        assert_eq!(file_at(line, 0x7f12b000), None);
        let anonymous = b"7f12a000-7f12b000 rw-p 00000000 00:00 0 ";
        assert_eq!(file_at(anonymous, 0x7f12a010), None);
        assert_eq!(file_at(b"[vdso]", 1), None);
    }

    #[test]
    fn this_process_maps_its_own_binary() {
        let addr = finds_the_file_of_an_address as *const () as usize;
        let mut path = [0u8; PATH_MAX];
        let file = mapped_file(addr, &mut path).expect("the code's file");
        let exe = std::env::current_exe().unwrap();
        assert_eq!(file, exe.as_os_str().as_encoded_bytes());
    }

    #[test]
    fn buffers_escape_and_stop_when_full() {
        let mut b = Buf::<8>::new();
        b.escaped(b"a\"b\\");
        assert_eq!(b.bytes(), b"a\\\"b\\\\");
        b.hex(0xff);
        assert_eq!(b.bytes(), b"a\\\"b\\\\ff");
        assert!(!b.full);
        b.push(b"x");
        assert!(b.full);
    }
}
