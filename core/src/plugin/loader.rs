//! The host side of the boundary: loads plugin libraries and calls them.

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use super::wire::{Request, Response, WireResult, encode_sized};
use super::{
    ABI_VERSION, Buffer, Descriptor, MAGIC, OpenContext, RUSTC_VERSION, SDK_VERSION, SYMBOL, text,
};
use crate::error::{Error, Result};
use crate::record::{Change, Cursor, EntitySchema, Key, Record};
use crate::source::{BatchStream, Capabilities, DayCount, ReadRequest, Source};
use crate::target::{Applied, Target, Transaction};

/// What a loaded plugin says about itself.
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    /// The library file.
    pub path: PathBuf,
    /// The connector's manifest `type`.
    pub name: String,
    /// The connector's version.
    pub version: String,
    /// The plugin ABI version.
    pub abi_version: u32,
    /// The `tandem-core` version it was built with.
    pub sdk_version: String,
    /// The compiler it was built with.
    pub rustc_version: String,
}

/// A loaded plugin library. Libraries are never unloaded.
#[derive(Clone)]
pub struct Plugin {
    info: Arc<PluginInfo>,
    descriptor: &'static Descriptor,
}

fn plugin_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Plugin {
        path: path.display().to_string(),
        message: message.into(),
    }
}

impl Plugin {
    /// Loads a plugin library and checks its descriptor before any call.
    pub fn load(path: &Path) -> Result<Plugin> {
        if !path.is_file() {
            return Err(plugin_error(path, "no such library"));
        }
        // SAFETY: loading a library runs its initialisers. Tandem plugins
        // are Rust cdylibs whose only initialisers are the standard
        // library's; the library is leaked below, so nothing it hands out
        // outlives it.
        let library = unsafe { libloading::Library::new(path) }
            .map_err(|e| plugin_error(path, format!("cannot load library: {e}")))?;
        let library: &'static libloading::Library = Box::leak(Box::new(library));
        // SAFETY: the symbol is looked up as a plain address (a pointer to
        // the descriptor static); nothing is called.
        let symbol = unsafe { library.get::<*const Descriptor>(SYMBOL) }.map_err(|_| {
            plugin_error(path, "not a Tandem plugin: it exports no TANDEM_PLUGIN descriptor (use tandem_core::export_connector!)")
        })?;
        let address = *symbol as *const u8;
        // SAFETY: a Tandem descriptor of any ABI version starts with the u64
        // magic followed by the u32 ABI version (`#[repr(C)]`, never moved);
        // only those two fields are read before the version is checked.
        let (magic, abi) = unsafe {
            (
                address.cast::<u64>().read_unaligned(),
                address.add(8).cast::<u32>().read_unaligned(),
            )
        };
        if magic != MAGIC {
            return Err(plugin_error(
                path,
                "not a Tandem plugin: the TANDEM_PLUGIN descriptor has the wrong magic number",
            ));
        }
        if abi != ABI_VERSION {
            return Err(plugin_error(
                path,
                format!(
                    "plugin ABI version {abi} does not match this host's ABI version {ABI_VERSION} \
                     (host built with tandem-core {SDK_VERSION}, {RUSTC_VERSION}); rebuild the plugin against this tandem-core"
                ),
            ));
        }
        // SAFETY: magic and ABI version match, so the address holds a
        // `Descriptor` of this layout, in a library that is never unloaded.
        let descriptor: &'static Descriptor = unsafe { &*(address.cast::<Descriptor>()) };
        let info = PluginInfo {
            path: path.to_path_buf(),
            name: text(&descriptor.name),
            version: text(&descriptor.version),
            abi_version: abi,
            sdk_version: text(&descriptor.sdk_version),
            rustc_version: text(&descriptor.rustc_version),
        };
        Ok(Plugin {
            info: Arc::new(info),
            descriptor,
        })
    }

    /// What the plugin says about itself.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// Opens a connector instance with its configuration.
    pub async fn open(
        &self,
        config: serde_json::Value,
        context: OpenContext,
    ) -> Result<PluginConnector> {
        let plugin = self.clone();
        let endpoint = context.endpoint.clone();
        let handle = tokio::task::spawn_blocking(move || plugin.open_blocking(&config, &context))
            .await
            .map_err(|e| Error::other(&endpoint, format!("opening the connector failed: {e}")))??;
        let instance = Arc::new(Instance {
            plugin: self.clone(),
            handle,
            endpoint,
            largest_request: Default::default(),
        });
        let described = instance.call(Request::Describe).await?;
        let Response::Described {
            capabilities,
            target,
        } = described
        else {
            return Err(instance.unexpected("Describe"));
        };
        Ok(PluginConnector {
            instance,
            capabilities,
            target,
        })
    }

    fn open_blocking(&self, config: &serde_json::Value, context: &OpenContext) -> Result<usize> {
        let config = serde_json::to_vec(config)
            .map_err(|e| Error::config(&context.endpoint, e.to_string()))?;
        let context_bytes = postcard::to_allocvec(context)
            .map_err(|e| Error::other(&context.endpoint, e.to_string()))?;
        let mut out = Buffer::empty();
        // SAFETY: the descriptor was checked at load; the buffers are valid
        // for the call and `out` is writable.
        let handle = unsafe {
            (self.descriptor.open)(
                config.as_ptr(),
                config.len(),
                context_bytes.as_ptr(),
                context_bytes.len(),
                host_log,
                &mut out,
            )
        };
        if handle.is_null() {
            let result = self.take(out);
            return Err(match result {
                Err(e) => e,
                Ok(_) => Error::other(
                    &context.endpoint,
                    "the plugin returned no instance and no error",
                ),
            });
        }
        Ok(handle as usize)
    }

    /// Decodes and frees a buffer the plugin handed out.
    fn take(&self, out: Buffer) -> Result<Response> {
        if out.ptr.is_null() {
            return Err(plugin_error(
                &self.info.path,
                "the plugin returned no answer",
            ));
        }
        // SAFETY: the plugin filled `out` with a live allocation of `len`
        // bytes, which stays valid until it is freed just below.
        let bytes = unsafe { std::slice::from_raw_parts(out.ptr, out.len) };
        let decoded: std::result::Result<WireResult, _> = postcard::from_bytes(bytes);
        // SAFETY: the buffer came from this plugin and is freed once.
        unsafe { (self.descriptor.free)(out) };
        match decoded {
            Ok(result) => result.map_err(Error::from),
            Err(e) => Err(plugin_error(
                &self.info.path,
                format!("undecodable answer: {e}"),
            )),
        }
    }
}

extern "C" fn host_log(
    level: u32,
    target: *const u8,
    target_len: usize,
    msg: *const u8,
    msg_len: usize,
) {
    // SAFETY: the plugin passes buffers valid for the duration of the call.
    let (target, msg) = unsafe {
        (
            std::slice::from_raw_parts(target, target_len),
            std::slice::from_raw_parts(msg, msg_len),
        )
    };
    let (target, msg) = (
        String::from_utf8_lossy(target),
        String::from_utf8_lossy(msg),
    );
    match level {
        1 => tracing::error!(plugin = %target, "{msg}"),
        2 => tracing::warn!(plugin = %target, "{msg}"),
        3 => tracing::info!(plugin = %target, "{msg}"),
        4 => tracing::debug!(plugin = %target, "{msg}"),
        _ => tracing::trace!(plugin = %target, "{msg}"),
    }
}

/// From how many changes a batch sent to apply is freed on a thread of its
/// own.
const DROP_APART: usize = 256;

/// One open connector instance inside a plugin.
struct Instance {
    plugin: Plugin,
    handle: usize,
    endpoint: String,
    /// The size of the largest request so far, for
    /// [`encode_sized`].
    largest_request: std::sync::atomic::AtomicUsize,
}

impl Instance {
    fn call_blocking(&self, request: &Request) -> Result<Response> {
        let bytes = self.encode(request)?;
        self.call_encoded(&bytes)
    }

    fn encode(&self, request: &Request) -> Result<Vec<u8>> {
        encode_sized(request, &self.largest_request)
            .map_err(|e| Error::other(&self.endpoint, e.to_string()))
    }

    fn call_encoded(&self, bytes: &[u8]) -> Result<Response> {
        let mut out = Buffer::empty();
        // SAFETY: `handle` came from this plugin's `open` and is closed only
        // when the instance drops; the buffers are valid for the call.
        unsafe {
            (self.plugin.descriptor.call)(
                self.handle as *mut c_void,
                bytes.as_ptr(),
                bytes.len(),
                &mut out,
            )
        };
        self.plugin.take(out)
    }

    async fn call(self: &Arc<Self>, request: Request) -> Result<Response> {
        let me = self.clone();
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let bytes = me.encode(&request)?;
            // A batch to apply holds thousands of records that other
            // threads allocated: freeing them is slow, and need not hold
            // up the call.
            if matches!(&request, Request::Apply { changes, .. } if changes.len() >= DROP_APART) {
                runtime.spawn_blocking(move || drop(request));
            }
            me.call_encoded(&bytes)
        })
        .await
        .map_err(|e| Error::other(&self.endpoint, format!("plugin call failed: {e}")))?
    }

    fn unexpected(&self, what: &str) -> Error {
        Error::other(
            &self.endpoint,
            format!("the plugin gave an unexpected answer to {what}"),
        )
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // SAFETY: the handle came from this plugin's `open` and is closed once.
        unsafe { (self.plugin.descriptor.close)(self.handle as *mut c_void) };
    }
}

/// A connector running inside a plugin, as a [`Source`] and [`Target`].
#[derive(Clone)]
pub struct PluginConnector {
    instance: Arc<Instance>,
    capabilities: Capabilities,
    target: bool,
}

impl PluginConnector {
    /// Whether the connector is also a target.
    pub fn is_target(&self) -> bool {
        self.target
    }
}

/// Closes a plugin stream when the host drops it.
struct StreamGuard {
    instance: Arc<Instance>,
    id: u64,
    done: bool,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.instance.call_blocking(&Request::CloseRead(self.id));
        }
    }
}

#[async_trait]
impl Source for PluginConnector {
    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    async fn entities(&self) -> Result<Vec<EntitySchema>> {
        match self.instance.call(Request::Entities).await? {
            Response::Entities(e) => Ok(e),
            _ => Err(self.instance.unexpected("Entities")),
        }
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        let Response::Handle(id) = self.instance.call(Request::Read(request)).await? else {
            return Err(self.instance.unexpected("Read"));
        };
        let guard = StreamGuard {
            instance: self.instance.clone(),
            id,
            done: false,
        };
        Ok(Box::pin(futures::stream::unfold(
            Some(guard),
            |guard| async move {
                let mut guard = guard?;
                match guard.instance.call(Request::Next(guard.id)).await {
                    Ok(Response::Batch(Some(batch))) => Some((Ok(batch), Some(guard))),
                    Ok(Response::Batch(None)) => {
                        guard.done = true;
                        None
                    }
                    Ok(_) => Some((Err(guard.instance.unexpected("Next")), None)),
                    Err(e) => Some((Err(e), None)),
                }
            },
        )))
    }

    async fn horizon(&self, entity: &str) -> Result<Option<jiff::civil::Date>> {
        match self
            .instance
            .call(Request::Horizon(entity.to_owned()))
            .await?
        {
            Response::Horizon(h) => Ok(h),
            _ => Err(self.instance.unexpected("Horizon")),
        }
    }

    async fn after_write(
        &self,
        entity: &str,
        cursor: Cursor,
        written: Option<&[Key]>,
    ) -> Result<Option<Cursor>> {
        let request = Request::AfterWrite {
            entity: entity.to_owned(),
            cursor,
            written: written.map(<[Key]>::to_vec),
        };
        match self.instance.call(request).await? {
            Response::Cursor(c) => Ok(c),
            _ => Err(self.instance.unexpected("AfterWrite")),
        }
    }

    async fn pending(&self, entity: &str, cursor: Option<&Cursor>) -> Result<Vec<DayCount>> {
        let request = Request::Pending {
            entity: entity.to_owned(),
            cursor: cursor.cloned(),
        };
        match self.instance.call(request).await? {
            Response::Pending(p) => Ok(p),
            _ => Err(self.instance.unexpected("Pending")),
        }
    }
}

#[async_trait]
impl Target for PluginConnector {
    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    async fn begin(&self, entity: &str) -> Result<Box<dyn Transaction>> {
        match self
            .instance
            .call(Request::Begin(entity.to_owned()))
            .await?
        {
            Response::Handle(id) => Ok(Box::new(PluginTransaction {
                instance: self.instance.clone(),
                id,
                open: true,
            })),
            _ => Err(self.instance.unexpected("Begin")),
        }
    }

    async fn fetch(&self, entity: &str, keys: &[Key]) -> Result<Vec<Record>> {
        let request = Request::Fetch {
            entity: entity.to_owned(),
            keys: keys.to_vec(),
        };
        match self.instance.call(request).await? {
            Response::Records(r) => Ok(r),
            _ => Err(self.instance.unexpected("Fetch")),
        }
    }
}

struct PluginTransaction {
    instance: Arc<Instance>,
    id: u64,
    open: bool,
}

#[async_trait]
impl Transaction for PluginTransaction {
    async fn apply(&mut self, changes: Vec<Change>) -> Result<Vec<Applied>> {
        match self
            .instance
            .call(Request::Apply {
                tx: self.id,
                changes,
            })
            .await?
        {
            Response::Applied(a) => Ok(a),
            _ => Err(self.instance.unexpected("Apply")),
        }
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        self.open = false;
        self.instance.call(Request::Commit(self.id)).await.map(drop)
    }

    async fn rollback(mut self: Box<Self>) -> Result<()> {
        self.open = false;
        self.instance
            .call(Request::Rollback(self.id))
            .await
            .map(drop)
    }
}

impl Drop for PluginTransaction {
    fn drop(&mut self) {
        if self.open {
            let _ = self.instance.call_blocking(&Request::Rollback(self.id));
        }
    }
}
