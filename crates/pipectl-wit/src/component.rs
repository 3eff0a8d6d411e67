//! Reading a component from disk: binary or WAT text, validated, with its WIT
//! (imports and exports) decoded.
//!
//! Everything a user can hand us is classified before anything else looks at
//! it: an empty file, a core module, a WIT package, text that is not WAT and a
//! truncated binary each get their own error naming the file.

use std::path::{Path, PathBuf};

use wasmparser::{Parser, ValidPayload, Validator, WasmFeatures};
use wit_parser::decoding::DecodedWasm;
use wit_parser::{Resolve, WorldId};

use crate::read::{FileError, MAX_COMPONENT_BYTES, read_file};

/// Why a file could not be read as a component.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComponentError {
    /// The file could not be read: missing, not a regular file, too large.
    #[error(transparent)]
    File(#[from] FileError),
    /// The file has no bytes.
    #[error("`{path}` is empty: expected a WebAssembly component")]
    Empty {
        /// The file that holds no bytes.
        path: PathBuf,
    },
    /// The file is a core module.
    #[error(
        "`{path}` is a core WebAssembly module, not a component\n  \
         hint: turn it into a component with `wasm-tools component new {name}` \
         (wit-component's `ComponentEncoder`), or build for `wasm32-wasip2`"
    )]
    CoreModule {
        /// The file that holds a core module rather than a component.
        path: PathBuf,
        /// The file's name, for the hint.
        name: String,
    },
    /// The file is an encoded WIT package, not a component.
    #[error("`{path}` is an encoded WIT package, not a component")]
    WitPackage {
        /// The file that holds an encoded WIT package rather than a component.
        path: PathBuf,
    },
    /// The file is text, but not valid WAT.
    #[error("`{path}` is not valid WebAssembly text:\n{message}")]
    Wat {
        /// The text file that does not parse as WAT.
        path: PathBuf,
        /// The WAT parser's message, with line and column.
        message: String,
    },
    /// The file is neither a WebAssembly binary nor WAT text.
    #[error("`{path}` is not a WebAssembly component: {reason}")]
    NotWasm {
        /// The file that is neither a WebAssembly binary nor WAT text.
        path: PathBuf,
        /// What it looks like instead.
        reason: String,
    },
    /// The binary ends before it is complete.
    #[error("`{path}` is truncated: {message} (at byte offset {offset} of {len})")]
    Truncated {
        /// The component file that ends early.
        path: PathBuf,
        /// wasmparser's message on running out of data.
        message: String,
        /// Where the data ran out.
        offset: usize,
        /// The file's length in bytes.
        len: usize,
    },
    /// The binary does not validate.
    #[error("`{path}` is not a valid component: {message} (at byte offset {offset})")]
    Invalid {
        /// The component file that does not validate.
        path: PathBuf,
        /// wasmparser's validation error, as shown to the user.
        message: String,
        /// The byte offset in the file where validation failed.
        offset: usize,
    },
    /// The component's WIT could not be decoded.
    #[error("failed to decode the WIT of `{path}`: {message}")]
    Decode {
        /// The component file whose WIT could not be decoded.
        path: PathBuf,
        /// The WIT decoder's error (or that it panicked), as shown to the user.
        message: String,
    },
}

/// A component's binary, read from a file (WAT text is converted).
#[derive(Debug, Clone)]
pub struct ComponentBytes {
    /// Where it was read from.
    pub path: PathBuf,
    /// The component's binary encoding; WAT input is already converted.
    pub bytes: Vec<u8>,
}

impl ComponentBytes {
    /// Reads `path`: a binary component, or WAT text of one. Only a
    /// regular file of at most [`MAX_COMPONENT_BYTES`] is read: a FIFO, a
    /// device or a directory is refused without being opened.
    pub fn read(path: &Path) -> Result<Self, ComponentError> {
        let bytes = read_file(path, MAX_COMPONENT_BYTES, "a component")?;
        Self::from_bytes(path, bytes)
    }

    /// Classifies `bytes` read from `path`; see [`ComponentBytes::read`].
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self, ComponentError> {
        let path = path.to_owned();
        if bytes.is_empty() {
            return Err(ComponentError::Empty { path });
        }
        let bytes = match wat::Detect::from_bytes(&bytes) {
            wat::Detect::WasmBinary => bytes,
            wat::Detect::WasmText => match wat::Parser::new().parse_bytes(Some(&path), &bytes) {
                Ok(binary) => binary.into_owned(),
                Err(err) => {
                    return Err(ComponentError::Wat {
                        path,
                        message: err.to_string(),
                    });
                }
            },
            wat::Detect::Unknown => {
                let reason = if bytes.starts_with(b"\0asm") {
                    "its header is incomplete".to_string()
                } else if std::str::from_utf8(&bytes)
                    .is_ok_and(|t| t.chars().all(|c| !c.is_control() || c.is_whitespace()))
                {
                    "it is text, but neither WAT nor a binary".to_string()
                } else {
                    "it does not start with the `\\0asm` magic number".to_string()
                };
                return Err(ComponentError::NotWasm { path, reason });
            }
        };
        if Parser::is_core_wasm(&bytes) {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Err(ComponentError::CoreModule { path, name });
        }
        if !Parser::is_component(&bytes) {
            return Err(ComponentError::NotWasm {
                path,
                reason: "it has an unknown WebAssembly version or layer".to_string(),
            });
        }
        Ok(Self { path, bytes })
    }

    /// Validates the whole component, function bodies included, the way
    /// `wasm-tools validate` does. Bodies are validated on `threads` threads.
    pub fn validate(&self, threads: usize) -> Result<(), ComponentError> {
        validate(&self.path, &self.bytes, threads)
    }

    /// Validates the whole component and decodes its WIT, on two threads:
    /// a second thread decodes while this one validates the outline (all but
    /// function bodies); then both share the function bodies.
    pub fn validate_and_decode(&self) -> Result<DecodedComponent, ComponentError> {
        self.validate_and_decode_on(2)
    }

    /// [`ComponentBytes::validate_and_decode`] on at most `threads` threads
    /// (one below 64 KiB, where a second thread would start too late).
    pub fn validate_and_decode_on(
        &self,
        threads: usize,
    ) -> Result<DecodedComponent, ComponentError> {
        if threads <= 1 || self.bytes.len() < SEQUENTIAL_BELOW {
            let bodies = validate_outline(&self.path, &self.bytes)?;
            validate_bodies(bodies).map_err(|e| binary_error(&self.path, self.bytes.len(), &e))?;
            return self.decode();
        }
        self.validate_and_decode_parallel()
    }

    fn validate_and_decode_parallel(&self) -> Result<DecodedComponent, ComponentError> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::{Mutex, OnceLock};

        type Chunks<'a> = Vec<Mutex<Option<Vec<Body<'a>>>>>;
        let chunks: OnceLock<Option<Chunks<'_>>> = OnceLock::new();
        let next = AtomicUsize::new(0);
        let work = |chunks: &Chunks<'_>| -> Result<(), wasmparser::BinaryReaderError> {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(chunk) = chunks.get(i) else {
                    return Ok(());
                };
                let taken = chunk.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(chunk) = taken {
                    validate_bodies(chunk)?;
                }
            }
        };
        let (outline, mine, worker) = std::thread::scope(|scope| {
            let worker = scope.spawn(|| {
                let decoded = self.decode();
                let bodies = match chunks.wait() {
                    Some(c) => work(c),
                    None => Ok(()),
                };
                (decoded, bodies)
            });
            let outline = validate_outline(&self.path, &self.bytes);
            let mine = match outline {
                Ok(mut bodies) => {
                    let size = bodies.len().div_ceil(32).max(1);
                    let mut split = Vec::new();
                    while !bodies.is_empty() {
                        let rest = bodies.split_off(size.min(bodies.len()));
                        split.push(Mutex::new(Some(std::mem::replace(&mut bodies, rest))));
                    }
                    let _ = chunks.set(Some(split));
                    let result = work(chunks.get().and_then(Option::as_ref).expect("set above"));
                    (Ok(()), result)
                }
                Err(e) => {
                    let _ = chunks.set(None);
                    (Err(e), Ok(()))
                }
            };
            let worker = worker.join();
            (mine.0, mine.1, worker)
        });
        outline?;
        let err = |e: &wasmparser::BinaryReaderError| binary_error(&self.path, self.bytes.len(), e);
        mine.map_err(|e| err(&e))?;
        let (decoded, theirs) = worker.map_err(|_| ComponentError::Decode {
            path: self.path.clone(),
            message: "the decoder panicked".to_string(),
        })?;
        theirs.map_err(|e| err(&e))?;
        decoded
    }

    /// Decodes the component's WIT: the world of its imports and exports.
    ///
    /// This validates types, not function bodies: pair it with
    /// [`ComponentBytes::validate`].
    pub fn decode(&self) -> Result<DecodedComponent, ComponentError> {
        let decoded =
            wit_parser::decoding::decode(&self.bytes).map_err(|err| self.classify_error(err))?;
        match decoded {
            DecodedWasm::Component(resolve, world) => Ok(DecodedComponent { resolve, world }),
            DecodedWasm::WitPackage(..) => Err(ComponentError::WitPackage {
                path: self.path.clone(),
            }),
        }
    }

    fn classify_error(&self, err: anyhow::Error) -> ComponentError {
        if let Some(e) = err.downcast_ref::<wasmparser::BinaryReaderError>() {
            return binary_error(&self.path, self.bytes.len(), e);
        }
        ComponentError::Decode {
            path: self.path.clone(),
            message: format!("{err:#}"),
        }
    }
}

/// Below this size a component is validated and decoded on one thread.
pub(crate) const SEQUENTIAL_BELOW: usize = 64 * 1024;

fn binary_error(path: &Path, len: usize, e: &wasmparser::BinaryReaderError) -> ComponentError {
    let message = e.message().to_string();
    let offset = usize::try_from(e.offset()).unwrap_or(usize::MAX);
    if offset >= len || message.contains("unexpected end") {
        ComponentError::Truncated {
            path: path.to_owned(),
            message,
            offset,
            len,
        }
    } else {
        ComponentError::Invalid {
            path: path.to_owned(),
            message,
            offset,
        }
    }
}

pub(crate) type Body<'a> = (
    wasmparser::FuncToValidate<wasmparser::ValidatorResources>,
    wasmparser::FunctionBody<'a>,
);

/// Validates everything but function bodies, and returns the bodies to
/// validate (they are independent of each other).
fn validate_outline<'a>(path: &Path, bytes: &'a [u8]) -> Result<Vec<Body<'a>>, ComponentError> {
    outline(bytes).map_err(|e| binary_error(path, bytes.len(), &e))
}

fn validate_bodies(bodies: Vec<Body<'_>>) -> Result<(), wasmparser::BinaryReaderError> {
    let mut allocs = wasmparser::FuncValidatorAllocations::default();
    for (func, body) in bodies {
        let mut v = func.into_validator(allocs);
        v.validate(&body)?;
        allocs = v.into_allocations();
    }
    Ok(())
}

/// Validates `bytes` fully, spreading function bodies over `threads` threads.
fn validate(path: &Path, bytes: &[u8], threads: usize) -> Result<(), ComponentError> {
    let bodies = validate_outline(path, bytes)?;
    validate_bodies_on(bodies, threads).map_err(|e| binary_error(path, bytes.len(), &e))
}

/// Validates everything in `bytes` but function bodies, which it returns;
/// errors are wasmparser's, with offsets into `bytes`.
pub(crate) fn outline(bytes: &[u8]) -> Result<Vec<Body<'_>>, wasmparser::BinaryReaderError> {
    let mut validator = Validator::new_with_features(WasmFeatures::all());
    let mut bodies = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        // Matched in place: the answer is large, and `?` would move it.
        match validator.payload(&payload?) {
            Ok(ValidPayload::Func(func, body)) => bodies.push((func, body)),
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(bodies)
}

/// Validates `bodies`, spread over `threads` threads; the first error wins.
pub(crate) fn validate_bodies_on(
    mut bodies: Vec<Body<'_>>,
    threads: usize,
) -> Result<(), wasmparser::BinaryReaderError> {
    let threads = threads.clamp(1, bodies.len().max(1));
    if threads == 1 {
        return validate_bodies(bodies);
    }
    let chunk = bodies.len().div_ceil(threads).max(1);
    let mut chunks = Vec::new();
    while bodies.len() > chunk {
        let rest = bodies.split_off(chunk);
        chunks.push(std::mem::replace(&mut bodies, rest));
    }
    chunks.push(bodies);
    std::thread::scope(|scope| {
        let mut chunks = chunks.into_iter();
        let mine = chunks.next().unwrap_or_default();
        let handles: Vec<_> = chunks
            .map(|c| scope.spawn(move || validate_bodies(c)))
            .collect();
        let mut result = validate_bodies(mine);
        for h in handles {
            if let Ok(Err(e)) = h.join()
                && result.is_ok()
            {
                result = Err(e);
            }
        }
        result
    })
}

/// A component's imports and exports as a WIT world.
#[derive(Debug, Clone)]
pub struct DecodedComponent {
    /// Every package the component's types mention.
    pub resolve: Resolve,
    /// The world of the component's imports and exports.
    pub world: WorldId,
}

impl DecodedComponent {
    /// The component's import names (`wasi:io/streams@0.2.0`, `stage0`).
    pub fn import_names(&self) -> Vec<String> {
        let world = &self.resolve.worlds[self.world];
        world
            .imports
            .keys()
            .map(|k| self.resolve.name_world_key(k))
            .collect()
    }

    /// The component's export names.
    pub fn export_names(&self) -> Vec<String> {
        let world = &self.resolve.worlds[self.world];
        world
            .exports
            .keys()
            .map(|k| self.resolve.name_world_key(k))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(bytes: &[u8]) -> Result<ComponentBytes, ComponentError> {
        ComponentBytes::from_bytes(Path::new("x.wasm"), bytes.to_vec())
    }

    #[test]
    fn classifies_what_is_not_a_component() {
        assert!(matches!(classify(b""), Err(ComponentError::Empty { .. })));
        assert!(matches!(
            classify(b"(module)"),
            Err(ComponentError::CoreModule { .. })
        ));
        assert!(matches!(
            classify(b"(component (core module (func i32.bogus)))"),
            Err(ComponentError::Wat { .. })
        ));
        assert!(matches!(
            classify(b"package a:b;"),
            Err(ComponentError::NotWasm { .. })
        ));
        assert!(matches!(
            classify(&[0xff, 0x00, 0x12]),
            Err(ComponentError::NotWasm { .. })
        ));
        assert!(matches!(
            classify(b"\0as"),
            Err(ComponentError::NotWasm { .. })
        ));
    }

    #[test]
    fn reports_truncation_and_invalid_bodies() {
        let good = classify(b"(component (core module (func (result i32) i32.const 1)))").unwrap();
        good.validate(2).unwrap();
        let cut = classify(&good.bytes[..good.bytes.len() - 3]).unwrap();
        assert!(matches!(
            cut.validate(1),
            Err(ComponentError::Truncated { .. })
        ));
        // A body that leaves the wrong type on the stack parses but does not
        // validate: found only by body validation.
        let bad =
            wat::parse_str("(component (core module (func (result i32) i64.const 1)))").unwrap();
        let bad = classify(&bad).unwrap();
        assert!(matches!(
            bad.validate(2),
            Err(ComponentError::Invalid { .. })
        ));
    }
}
