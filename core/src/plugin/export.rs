//! The plugin side of the boundary: the `extern "C"` functions that
//! [`export_connector!`](crate::export_connector) exports for a connector.

use std::collections::HashMap;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use futures::StreamExt;

use super::wire::{Request, Response, WireError, WireResult, encode_sized};
use super::{Buffer, Connector, LogFn, OpenContext};
use crate::source::BatchStream;
use crate::target::Transaction;

/// The plugin's own tokio runtime: every call blocks on it.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tandem-plugin")
            .enable_all()
            .build()
            .expect("the plugin's tokio runtime starts")
    })
}

/// One opened connector with its open streams and transactions.
struct Instance<C> {
    connector: C,
    streams: Mutex<HashMap<u64, BatchStream>>,
    txs: Mutex<HashMap<u64, Box<dyn Transaction>>>,
    next: AtomicU64,
}

impl<C: Connector> Instance<C> {
    fn id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn lost(&self, what: &str, id: u64) -> WireError {
        WireError::Other(C::NAME.into(), format!("no open {what} {id}"))
    }

    async fn handle(&self, request: Request) -> WireResult {
        let c = &self.connector;
        let target = || {
            c.as_target().ok_or_else(|| {
                WireError::Config(C::NAME.into(), "this connector is not a target".into())
            })
        };
        Ok(match request {
            Request::Describe => Response::Described {
                capabilities: c.capabilities(),
                target: c.as_target().is_some(),
            },
            Request::Entities => Response::Entities(c.entities().await?),
            Request::Read(r) => {
                let stream = c.read(r).await?;
                let id = self.id();
                lock(&self.streams).insert(id, stream);
                Response::Handle(id)
            }
            Request::Next(id) => {
                let mut stream = lock(&self.streams)
                    .remove(&id)
                    .ok_or_else(|| self.lost("stream", id))?;
                match stream.next().await {
                    Some(Ok(batch)) => {
                        lock(&self.streams).insert(id, stream);
                        Response::Batch(Some(batch))
                    }
                    Some(Err(e)) => return Err(e.into()),
                    None => Response::Batch(None),
                }
            }
            Request::CloseRead(id) => {
                lock(&self.streams).remove(&id);
                Response::Done
            }
            Request::Pending { entity, cursor } => {
                Response::Pending(c.pending(&entity, cursor.as_ref()).await?)
            }
            Request::Horizon(entity) => Response::Horizon(c.horizon(&entity).await?),
            Request::AfterWrite {
                entity,
                cursor,
                written,
            } => Response::Cursor(c.after_write(&entity, cursor, written.as_deref()).await?),
            Request::Begin(entity) => {
                let tx = target()?.begin(&entity).await?;
                let id = self.id();
                lock(&self.txs).insert(id, tx);
                Response::Handle(id)
            }
            Request::Apply { tx, changes } => {
                let mut t = lock(&self.txs)
                    .remove(&tx)
                    .ok_or_else(|| self.lost("transaction", tx))?;
                let result = t.apply(changes).await;
                lock(&self.txs).insert(tx, t);
                Response::Applied(result?)
            }
            Request::Commit(tx) => {
                let t = lock(&self.txs)
                    .remove(&tx)
                    .ok_or_else(|| self.lost("transaction", tx))?;
                t.commit().await?;
                Response::Done
            }
            Request::Rollback(tx) => {
                let t = lock(&self.txs).remove(&tx);
                if let Some(t) = t {
                    t.rollback().await?;
                }
                Response::Done
            }
            Request::Fetch { entity, keys } => {
                Response::Records(target()?.fetch(&entity, &keys).await?)
            }
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Hands bytes to the host.
fn give(out: *mut Buffer, bytes: Vec<u8>) {
    let mut bytes = std::mem::ManuallyDrop::new(bytes);
    let buf = Buffer {
        ptr: bytes.as_mut_ptr(),
        len: bytes.len(),
        cap: bytes.capacity(),
    };
    // SAFETY: `out` is a valid, writable pointer the host passes to every
    // call (checked non-null by the callers below).
    unsafe { out.write(buf) };
}

/// The size of the largest response so far, for [`encode_sized`].
static LARGEST_RESPONSE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn give_result(out: *mut Buffer, result: &WireResult) {
    let bytes = encode_sized(result, &LARGEST_RESPONSE).unwrap_or_else(|e| {
        postcard::to_allocvec(&WireResult::Err(WireError::Other(
            String::new(),
            format!("encoding a response: {e}"),
        )))
        .unwrap_or_default()
    });
    give(out, bytes);
}

/// Borrows bytes the host passed in.
///
/// # Safety
/// `ptr` must point to `len` readable bytes that stay valid for the call.
unsafe fn borrow<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        return &[];
    }
    // SAFETY: guaranteed by the caller.
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

/// Opens an instance of `C`.
///
/// # Safety
/// Called by the host only, with buffers valid for the call and a writable
/// `out`.
pub unsafe extern "C" fn plugin_open<C: Connector>(
    config: *const u8,
    config_len: usize,
    context: *const u8,
    context_len: usize,
    log: LogFn,
    out: *mut Buffer,
) -> *mut c_void {
    if out.is_null() {
        return std::ptr::null_mut();
    }
    super::log::install(log, C::NAME);
    // SAFETY: the host passes buffers valid for the duration of this call.
    let (config, context) = unsafe { (borrow(config, config_len), borrow(context, context_len)) };
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<Instance<C>, WireError> {
        let config: serde_json::Value = serde_json::from_slice(config).map_err(|e| {
            WireError::Config(C::NAME.into(), format!("configuration is not JSON: {e}"))
        })?;
        let context: OpenContext = postcard::from_bytes(context)
            .map_err(|e| WireError::Other(C::NAME.into(), format!("bad open context: {e}")))?;
        let _guard = runtime().enter();
        let connector = C::open(config, &context).map_err(WireError::from)?;
        Ok(Instance {
            connector,
            streams: Mutex::default(),
            txs: Mutex::default(),
            next: AtomicU64::new(0),
        })
    }));
    match result {
        Ok(Ok(instance)) => Box::into_raw(Box::new(instance)).cast(),
        Ok(Err(e)) => {
            give_result(out, &Err(e));
            std::ptr::null_mut()
        }
        Err(panic) => {
            let e = WireError::Other(
                C::NAME.into(),
                format!("panicked while opening: {}", panic_message(&*panic)),
            );
            give_result(out, &Err(e));
            std::ptr::null_mut()
        }
    }
}

/// Calls an instance of `C`.
///
/// # Safety
/// `handle` must come from [`plugin_open`] of the same `C` and not be
/// closed; the request buffer must be valid for the call; `out` writable.
pub unsafe extern "C" fn plugin_call<C: Connector>(
    handle: *mut c_void,
    req: *const u8,
    req_len: usize,
    out: *mut Buffer,
) {
    if out.is_null() || handle.is_null() {
        return;
    }
    // SAFETY: the handle was made by `plugin_open::<C>` from a
    // `Box<Instance<C>>` and is alive until `plugin_close`; instances are
    // shared across threads only through `&`, and their state is behind
    // mutexes.
    let instance = unsafe { &*handle.cast::<Instance<C>>() };
    // SAFETY: the host passes a buffer valid for the duration of this call.
    let req = unsafe { borrow(req, req_len) };
    let result = catch_unwind(AssertUnwindSafe(|| -> WireResult {
        let request: Request = postcard::from_bytes(req)
            .map_err(|e| WireError::Other(C::NAME.into(), format!("bad request: {e}")))?;
        runtime().block_on(instance.handle(request))
    }));
    let result = result.unwrap_or_else(|panic| {
        Err(WireError::Other(
            C::NAME.into(),
            format!("connector panicked: {}", panic_message(&*panic)),
        ))
    });
    give_result(out, &result);
}

/// Drops an instance of `C`.
///
/// # Safety
/// `handle` must come from [`plugin_open`] of the same `C`, and is invalid
/// afterwards.
pub unsafe extern "C" fn plugin_close<C: Connector>(handle: *mut c_void) {
    if handle.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: made by `Box::into_raw` in `plugin_open::<C>`; the host
        // closes each handle once.
        let instance = unsafe { Box::from_raw(handle.cast::<Instance<C>>()) };
        let _guard = runtime().enter();
        drop(instance);
    }));
}

/// Frees a buffer handed out by this plugin.
///
/// # Safety
/// `buf` must be a buffer this plugin handed out, freed once.
pub unsafe extern "C" fn plugin_free(buf: Buffer) {
    if buf.ptr.is_null() {
        return;
    }
    // SAFETY: `buf` was made from a `Vec<u8>` by `give` with these exact
    // pointer, length and capacity, and is freed once.
    drop(unsafe { Vec::from_raw_parts(buf.ptr, buf.len, buf.cap) });
}
