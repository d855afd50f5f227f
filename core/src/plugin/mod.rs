//! The plugin boundary: a stable C ABI between the `tandem` host and the
//! connector libraries it loads at run time.
//!
//! Rust has no stable ABI and each library carries its own copy of tokio,
//! so nothing but plain C types crosses: one exported `#[repr(C)]`
//! [`Descriptor`] (magic, ABI version, versions for messages, a table of
//! `extern "C"` functions), opaque handles, and postcard byte buffers that
//! the side that allocated them frees. The plugin owns its tokio runtime and
//! blocks on it in each call; the host makes calls from `spawn_blocking`.
//! Every export catches panics, so a panicking connector is an error, not
//! a dead host. Libraries are never unloaded.
//!
//! Connector authors see none of this: they implement [`Connector`] (with
//! [`Source`](crate::Source) and, for targets, [`Target`](crate::Target))
//! and write [`export_connector!`](crate::export_connector).
//!
//! This module holds the only `unsafe` code of the project.

mod export;
#[cfg(feature = "loader")]
mod loader;
mod log;
pub mod wire;

use std::ffi::c_void;
use std::path::PathBuf;

#[doc(hidden)]
pub use export::{plugin_call, plugin_close, plugin_free, plugin_open};
#[cfg(feature = "loader")]
pub use loader::{Plugin, PluginConnector, PluginInfo};

use crate::error::Result;
use crate::source::Source;
use crate::target::Target;

/// Identifies a Tandem plugin descriptor: `TANDEMPL`.
pub const MAGIC: u64 = u64::from_le_bytes(*b"TANDEMPL");

/// The version of this ABI. A host loads only plugins of the same version.
pub const ABI_VERSION: u32 = 4;

/// The version of `tandem-core` a plugin was built with.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The compiler a plugin was built with.
pub const RUSTC_VERSION: &str = env!("TANDEM_RUSTC_VERSION");

/// The name of the exported descriptor symbol.
pub const SYMBOL: &[u8] = b"TANDEM_PLUGIN";

/// A connector that can be loaded as a plugin.
pub trait Connector: Source + Sized + 'static {
    /// The manifest `type` that names it (the crate suffix: `file`, `sql`).
    const NAME: &'static str;
    /// Its version.
    const VERSION: &'static str;

    /// Builds the connector from its configuration (the endpoint's table of
    /// the manifest, as JSON). Validation is pure; I/O waits for use.
    fn open(config: serde_json::Value, context: &OpenContext) -> Result<Self>;

    /// The connector as a target, when it is one.
    fn as_target(&self) -> Option<&dyn Target> {
        None
    }
}

/// What the host tells a connector when it opens it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct OpenContext {
    /// The endpoint's name in the manifest.
    pub endpoint: String,
    /// The folder relative paths in the configuration are relative to
    /// (the manifest's folder).
    pub base_dir: PathBuf,
}

impl OpenContext {
    /// A context for an endpoint.
    pub fn new(endpoint: impl Into<String>, base_dir: impl Into<PathBuf>) -> Self {
        OpenContext {
            endpoint: endpoint.into(),
            base_dir: base_dir.into(),
        }
    }

    /// A path from the configuration, resolved against [`Self::base_dir`].
    pub fn resolve(&self, path: impl Into<PathBuf>) -> PathBuf {
        let path = path.into();
        if path.is_absolute() {
            path
        } else {
            self.base_dir.join(path)
        }
    }
}

/// A byte buffer handed from the plugin to the host; the host gives it
/// back to [`Descriptor::free`].
#[repr(C)]
#[derive(Debug)]
pub struct Buffer {
    /// The bytes.
    pub ptr: *mut u8,
    /// How many.
    pub len: usize,
    /// The allocation's capacity.
    pub cap: usize,
}

impl Buffer {
    /// An empty buffer.
    pub const fn empty() -> Self {
        Buffer {
            ptr: std::ptr::null_mut(),
            len: 0,
            cap: 0,
        }
    }
}

/// The host's log callback: level (1 error .. 5 trace), target, message.
pub type LogFn =
    extern "C" fn(level: u32, target: *const u8, target_len: usize, msg: *const u8, msg_len: usize);

/// Opens an instance: configuration JSON and [`OpenContext`] postcard in;
/// a handle out, or null with a postcard [`wire::WireError`] in `out`.
pub type OpenFn = unsafe extern "C" fn(
    config: *const u8,
    config_len: usize,
    context: *const u8,
    context_len: usize,
    log: LogFn,
    out: *mut Buffer,
) -> *mut c_void;

/// One call: a postcard [`wire::Request`] in, a postcard
/// [`wire::WireResult`] out.
pub type CallFn =
    unsafe extern "C" fn(handle: *mut c_void, req: *const u8, req_len: usize, out: *mut Buffer);

/// Drops an instance.
pub type CloseFn = unsafe extern "C" fn(handle: *mut c_void);

/// Frees a buffer the plugin handed out.
pub type FreeFn = unsafe extern "C" fn(buf: Buffer);

/// What a plugin exports under [`SYMBOL`]. `magic` and `abi_version` come
/// first and never move, so a host can reject any other version before it
/// reads further.
#[repr(C)]
pub struct Descriptor {
    /// [`MAGIC`].
    pub magic: u64,
    /// [`ABI_VERSION`] of the plugin.
    pub abi_version: u32,
    /// The connector's manifest `type`, NUL-padded.
    pub name: [u8; 32],
    /// The connector's version, NUL-padded.
    pub version: [u8; 32],
    /// [`SDK_VERSION`], NUL-padded.
    pub sdk_version: [u8; 32],
    /// [`RUSTC_VERSION`], NUL-padded.
    pub rustc_version: [u8; 96],
    /// Opens an instance.
    pub open: OpenFn,
    /// Calls an instance.
    pub call: CallFn,
    /// Drops an instance.
    pub close: CloseFn,
    /// Frees a buffer.
    pub free: FreeFn,
}

/// Copies text into a NUL-padded array at compile time (cut to fit).
pub const fn fixed<const N: usize>(s: &str) -> [u8; N] {
    let bytes = s.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < bytes.len() && i < N - 1 {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

/// The text of a NUL-padded array.
pub fn text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

impl Descriptor {
    /// The descriptor of connector `C`.
    pub const fn of<C: Connector>() -> Descriptor {
        Descriptor {
            magic: MAGIC,
            abi_version: ABI_VERSION,
            name: fixed(C::NAME),
            version: fixed(C::VERSION),
            sdk_version: fixed(SDK_VERSION),
            rustc_version: fixed(RUSTC_VERSION),
            open: plugin_open::<C>,
            call: plugin_call::<C>,
            close: plugin_close::<C>,
            free: plugin_free,
        }
    }
}

/// Exports a connector as a Tandem plugin.
///
/// ```ignore
/// tandem_core::export_connector!(MyConnector);
/// ```
///
/// The crate must be built as a `cdylib` (`crate-type = ["cdylib", "rlib"]`).
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        /// The Tandem plugin descriptor of this library.
        #[unsafe(no_mangle)]
        pub static TANDEM_PLUGIN: $crate::plugin::Descriptor =
            $crate::plugin::Descriptor::of::<$connector>();
    };
    // For tests of the host's version check only.
    ($connector:ty, abi_version = $abi:expr) => {
        /// The Tandem plugin descriptor of this library (with a given ABI version).
        #[unsafe(no_mangle)]
        pub static TANDEM_PLUGIN: $crate::plugin::Descriptor = $crate::plugin::Descriptor {
            abi_version: $abi,
            ..$crate::plugin::Descriptor::of::<$connector>()
        };
    };
}
