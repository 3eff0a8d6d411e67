//! The check's fast path: one validation that also proves a component
//! targets a world.
//!
//! `wit_component::targets` embeds the component in a wrapper that passes it
//! where a component of the world's type is expected, and validates the
//! wrapper: the validator's subtype check is the linker's. Here the same
//! wrapper is validated with the function bodies collected, not checked, so
//! the caller validates them once (on as many threads as it likes), and the
//! world's type is encoded once per [`crate::Target`], not per component.
//! Nothing is decoded when the component passes; any failure falls back to
//! decoding the component and comparing worlds, which names every problem.
//!
//! The wrapper, in WAT (the shape `targets` builds):
//!
//! ```text
//! (component
//!   (component $tested ...)
//!   (component $expects (type $world (component ...)) (import "world" (component (type $world))))
//!   (instance (instantiate $expects (with "world" (component $tested)))))
//! ```
//!
//! Subtyping accepts more than WIT can say, so a pass also needs the
//! component's shape to be one the decoder reads the way it was checked
//! ([`validate`]): otherwise the caller decodes, as for a failure.

use wasm_encoder::{
    Component, ComponentExportKind, ComponentImportSection, ComponentInstanceSection,
    ComponentSectionId, ComponentTypeRef, NestedComponentSection, RawSection,
};
use wasmparser::component_types::{ComponentAnyTypeId, ComponentEntityType};
use wasmparser::types::Types;
use wasmparser::{
    BinaryReader, ComponentType, ComponentTypeDeclaration, Parser, Payload, ValidPayload,
    Validator, WasmFeatures,
};
use wit_parser::{Resolve, WorldId};

/// A world's component type, encoded by wit-component, ready to splice into
/// wrappers.
#[derive(Debug)]
pub(crate) struct EncodedWorld {
    /// The contents of a component type section whose only type is the
    /// world's component type (kept for tests, which build whole wrappers).
    #[cfg(test)]
    types: Vec<u8>,
    /// The wrapper without the tested component: its header, `$expects`
    /// and the instantiation. [`validate`] feeds the validator the tested
    /// component between the header and the rest, so no wrapper is built
    /// (or the component copied) per check.
    tail: Vec<u8>,
}

impl EncodedWorld {
    /// Encodes `world` the way wit-component records a world in a
    /// component's metadata. `None` when the fast path cannot answer for
    /// this world: it fails to encode, or it exports nothing (a component
    /// that merely has no imports would then pass, WIT packages included).
    pub(crate) fn new(resolve: &Resolve, world: WorldId) -> Option<Self> {
        let w = &resolve.worlds[world];
        if w.exports.is_empty() {
            return None;
        }
        let id = resolve.id_of_name(w.package?, &w.name);
        let encoded = wit_component::metadata::encode(
            resolve,
            world,
            wit_component::StringEncoding::UTF8,
            None,
        )
        .ok()?;
        let mut types = None;
        for payload in Parser::new(0).parse_all(&encoded) {
            match payload.ok()? {
                Payload::ComponentTypeSection(s) if types.is_none() && s.count() == 1 => {
                    let r = s.range();
                    let start = usize::try_from(r.start).ok()?;
                    let end = usize::try_from(r.end).ok()?;
                    types = Some(world_type(encoded.get(start..end)?, &id)?);
                }
                Payload::ComponentTypeSection(_) | Payload::ComponentSection { .. } => {
                    return None;
                }
                _ => {}
            }
        }
        let types = types?;
        let tail = Self::wrapper(&types, None);
        Some(Self {
            #[cfg(test)]
            types,
            tail,
        })
    }

    /// The wrapper around `component`, or without it (the tail).
    fn wrapper(types: &[u8], component: Option<&[u8]>) -> Vec<u8> {
        let mut expects = Component::new();
        expects.section(&RawSection {
            id: ComponentSectionId::Type as u8,
            data: types,
        });
        let mut import = ComponentImportSection::new();
        import.import("world", ComponentTypeRef::Component(0));
        expects.section(&import);

        // The tested component first, as `wit_component::targets` embeds
        // it: nothing precedes it that an outer alias in it could name, so
        // it validates in the wrapper exactly when it validates alone.
        let mut wrapper = Component::new();
        if let Some(component) = component {
            wrapper.section(&RawSection {
                id: ComponentSectionId::Component as u8,
                data: component,
            });
        }
        wrapper.section(&NestedComponentSection(&expects));
        let mut instances = ComponentInstanceSection::new();
        instances.instantiate(1, [("world", ComponentExportKind::Component, 0)]);
        wrapper.section(&instances);
        wrapper.finish()
    }

    /// The wrapper [`validate`] validates, as bytes (for tests).
    #[cfg(test)]
    pub(crate) fn wrap(&self, component: &[u8]) -> Vec<u8> {
        Self::wrapper(&self.types, Some(component))
    }
}

/// The world's own component type, as a type section of one type, out of
/// the type section wit-component writes in metadata: one component type
/// whose declarations are the world's type and an export of it under the
/// world's id. `None` for any other shape.
fn world_type(section: &[u8], id: &str) -> Option<Vec<u8>> {
    let mut reader = BinaryReader::new(section, 0);
    let outer = (
        reader.read_var_u32().ok()?,
        reader.read_u8().ok()?,
        reader.read_var_u32().ok()?,
        reader.read_u8().ok()?,
    );
    // One type, a component type (0x41) of two declarations, the first a
    // type (0x01).
    if outer != (1, 0x41, 2, 0x01) {
        return None;
    }
    let start = reader.current_position();
    let ComponentType::Component(_) = reader.read::<ComponentType<'_>>().ok()? else {
        return None;
    };
    let end = reader.current_position();
    match reader.read::<ComponentTypeDeclaration<'_>>().ok()? {
        ComponentTypeDeclaration::Export {
            name,
            ty: wasmparser::ComponentTypeRef::Component(0),
        } if name.name == id && reader.eof() => {}
        _ => return None,
    }
    let mut types = vec![1]; // one type
    types.extend_from_slice(section.get(start..end)?);
    Some(types)
}

/// What [`validate`] does with function bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bodies {
    /// Not validated (types only).
    Skip,
    /// Validated as they are met, as `Validator::validate_all` does.
    Inline,
    /// Returned, for the caller to validate on several threads.
    Collect,
}

/// Validates the wrapper around `component` (the bytes
/// [`EncodedWorld::wrap`] would build), its function bodies as `mode` says;
/// returns the bodies collected. `None` when it does not validate, or the
/// tested component has a shape the fast path must not answer for.
pub(crate) fn validate<'a>(
    world: &'a EncodedWorld,
    component: &'a [u8],
    mode: Bodies,
) -> Option<Vec<crate::component::Body<'a>>> {
    let (bodies, shape_ok) = feed(world, component, mode)?;
    shape_ok.then_some(bodies)
}

/// Feeds the validator the wrapper's payloads: its header (the tail's),
/// the tested component as its first nested component (parsed from its own
/// bytes, not copied into a wrapper), then the rest of the tail. `None` when that does not validate; else the bodies collected
/// and whether the component's shape is one the decoder reads as checked.
pub(crate) fn feed<'a>(
    world: &'a EncodedWorld,
    component: &'a [u8],
    mode: Bodies,
) -> Option<(Vec<crate::component::Body<'a>>, bool)> {
    let mut feed = Feed {
        validator: Validator::new_with_features(WasmFeatures::all()),
        mode,
        bodies: Vec::new(),
        allocs: wasmparser::FuncValidatorAllocations::default(),
        imports: Vec::new(),
        exports: Vec::new(),
        depth: 0,
        children: 0,
        shape_ok: false,
    };
    let mut tail = Parser::new(0).parse_all(&world.tail);
    feed.step(&tail.next()?.ok()?)?;
    feed.step(&Payload::ComponentSection {
        parser: Parser::new(0),
        unchecked_range: 0..u64::try_from(component.len()).ok()?,
    })?;
    for payload in Parser::new(0).parse_all(component) {
        feed.step(&payload.ok()?)?;
    }
    // The tail's sections follow the tested component's `End`: bytes that
    // stop short of one leave the validator inside it, and those fail.
    for payload in tail {
        feed.step(&payload.ok()?)?;
    }
    Some((feed.bodies, feed.shape_ok))
}

/// The validation [`feed`] drives, one payload at a time (taken by
/// reference: the validator's answers are large, and are not moved).
struct Feed<'a> {
    validator: Validator,
    mode: Bodies,
    bodies: Vec<crate::component::Body<'a>>,
    allocs: wasmparser::FuncValidatorAllocations,
    /// The tested component's import and export names, for the shape rule.
    imports: Vec<String>,
    exports: Vec<String>,
    /// How deep the payload is nested (the wrapper is 1), and how many
    /// components the wrapper has begun: the tested one is its first.
    depth: usize,
    children: usize,
    shape_ok: bool,
}

impl<'a> Feed<'a> {
    /// Validates one payload; `None` when it is invalid.
    fn step(&mut self, payload: &Payload<'a>) -> Option<()> {
        let in_tested = self.depth == 2 && self.children == 1;
        match payload {
            Payload::ComponentImportSection(s) if in_tested => {
                for import in s.clone() {
                    self.imports.push(import.ok()?.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(s) if in_tested => {
                for export in s.clone() {
                    self.exports.push(export.ok()?.name.name.to_string());
                }
            }
            _ => {}
        }
        // Matched in place: the answer is large, and `.ok()?` would move it.
        match self.validator.payload(payload) {
            Err(_) => return None,
            Ok(ValidPayload::Func(func, body)) => match self.mode {
                Bodies::Skip => {}
                Bodies::Collect => self.bodies.push((func, body)),
                Bodies::Inline => {
                    let mut v = func.into_validator(std::mem::take(&mut self.allocs));
                    v.validate(&body).ok()?;
                    self.allocs = v.into_allocations();
                }
            },
            Ok(ValidPayload::Parser(_)) => {
                self.children += usize::from(self.depth == 1);
                self.depth += 1;
            }
            Ok(ValidPayload::End(types)) => {
                if in_tested {
                    self.shape_ok = decodes_as_checked(&types, &self.imports, &self.exports);
                }
                self.depth = self.depth.saturating_sub(1);
            }
            Ok(ValidPayload::Ok) => {
                if let Payload::Version { .. } = payload {
                    self.depth += usize::from(self.depth == 0);
                }
            }
        }
        Some(())
    }
}

/// Whether the decoder reads the component the way subtyping checked it:
/// it exports only functions and instances of functions and types, and no
/// exported type is one of its imported types (a re-exported resource or
/// interface the decoder would attribute elsewhere).
fn decodes_as_checked(types: &Types, imports: &[String], exports: &[String]) -> bool {
    let ids = |item: &ComponentEntityType, out: &mut Vec<ComponentAnyTypeId>| match item {
        ComponentEntityType::Type {
            referenced,
            created,
        } => {
            out.push(*referenced);
            out.push(*created);
        }
        ComponentEntityType::Instance(id) => {
            for export in types[*id].exports.values() {
                if let ComponentEntityType::Type {
                    referenced,
                    created,
                } = export.ty
                {
                    out.push(referenced);
                    out.push(created);
                }
            }
        }
        _ => {}
    };
    let mut imported = Vec::new();
    for name in imports {
        let Some(item) = types.component_item_for_import(name) else {
            return false;
        };
        ids(&item.ty, &mut imported);
    }
    let mut exported = Vec::new();
    for name in exports {
        let Some(item) = types.component_item_for_export(name) else {
            return false;
        };
        match item.ty {
            ComponentEntityType::Func(_) => {}
            ComponentEntityType::Instance(id) => {
                let only_wit = types[id].exports.values().all(|e| {
                    matches!(
                        e.ty,
                        ComponentEntityType::Func(_) | ComponentEntityType::Type { .. }
                    )
                });
                if !only_wit {
                    return false;
                }
            }
            _ => return false,
        }
        ids(&item.ty, &mut exported);
    }
    let key = |id: &ComponentAnyTypeId| match id {
        ComponentAnyTypeId::Resource(r) => Some(format!("r{:?}", r.resource())),
        ComponentAnyTypeId::Defined(d) => Some(format!("d{d:?}")),
        _ => None,
    };
    let imported: std::collections::HashSet<String> = imported.iter().filter_map(key).collect();
    exported
        .iter()
        .filter_map(key)
        .all(|id| !imported.contains(&id))
}
