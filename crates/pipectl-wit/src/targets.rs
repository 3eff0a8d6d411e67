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
//! The wrapper, in WAT:
//!
//! ```text
//! (component
//!   (component $provides (component $tested ...) (export "ns:pkg/world@v" (component $tested)))
//!   (component $expects
//!     (type $outer (component (export "ns:pkg/world@v" (component $world-type))))
//!     (import "p" (component (type $outer))))
//!   (instance (instantiate $expects (with "p" (component $provides)))))
//! ```
//!
//! Subtyping accepts more than WIT can say, so a pass also needs the
//! component's shape to be one the decoder reads the way it was checked
//! ([`validate`]): otherwise the caller decodes, as for a failure.

use wasm_encoder::{
    Component, ComponentExportKind, ComponentExportSection, ComponentImportSection,
    ComponentInstanceSection, ComponentSectionId, ComponentTypeRef, NestedComponentSection,
    RawSection,
};
use wasmparser::component_types::{ComponentAnyTypeId, ComponentEntityType};
use wasmparser::types::Types;
use wasmparser::{Parser, Payload, ValidPayload, Validator, WasmFeatures};
use wit_parser::{Resolve, WorldId};

/// A world's component type, encoded by wit-component, ready to splice into
/// wrappers.
#[derive(Debug)]
pub(crate) struct EncodedWorld {
    /// The contents of a component type section whose only type is a
    /// component exporting a component of the world's type under `export`.
    types: Vec<u8>,
    /// The world's id as an export name: `ns:pkg/world@version`.
    export: String,
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
        let export = resolve.id_of_name(w.package?, &w.name);
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
                    types = Some(encoded.get(start..end)?.to_vec());
                }
                Payload::ComponentTypeSection(_) | Payload::ComponentSection { .. } => {
                    return None;
                }
                _ => {}
            }
        }
        Some(Self {
            types: types?,
            export,
        })
    }

    /// The wrapper that validates only if `component` is valid and is a
    /// subtype of the world's component type.
    pub(crate) fn wrap(&self, component: &[u8]) -> Vec<u8> {
        let types = RawSection {
            id: ComponentSectionId::Type as u8,
            data: &self.types,
        };
        let mut expects = Component::new();
        expects.section(&types);
        let mut import = ComponentImportSection::new();
        import.import("p", ComponentTypeRef::Component(0));
        expects.section(&import);

        let mut provides = Component::new();
        provides.section(&RawSection {
            id: ComponentSectionId::Component as u8,
            data: component,
        });
        let mut export = ComponentExportSection::new();
        export.export(&self.export, ComponentExportKind::Component, 0, None);
        provides.section(&export);

        // The tested component first, as `wit_component::targets` embeds
        // it: nothing precedes it that an outer alias in it could name, so
        // it validates in the wrapper exactly when it validates alone.
        let mut wrapper = Component::new();
        wrapper.section(&NestedComponentSection(&provides));
        wrapper.section(&NestedComponentSection(&expects));
        let mut instances = ComponentInstanceSection::new();
        instances.instantiate(1, [("p", ComponentExportKind::Component, 0)]);
        wrapper.section(&instances);
        wrapper.finish()
    }
}

/// Where the tested component sits in the wrapper: inside `$provides`.
const TESTED_DEPTH: usize = 3;

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

/// Validates `wrapper` (from [`EncodedWorld::wrap`]), its function bodies
/// as `mode` says; returns the bodies collected. `None` when it does not
/// validate, or the tested component has a shape the fast path must not
/// answer for.
pub(crate) fn validate(wrapper: &[u8], mode: Bodies) -> Option<Vec<crate::component::Body<'_>>> {
    let mut validator = Validator::new_with_features(WasmFeatures::all());
    let mut bodies = Vec::new();
    let mut allocs = wasmparser::FuncValidatorAllocations::default();
    let (mut depth, mut imports, mut exports) = (0usize, Vec::new(), Vec::new());
    let mut shape_ok = false;
    for payload in Parser::new(0).parse_all(wrapper) {
        let payload = payload.ok()?;
        match &payload {
            Payload::ComponentImportSection(s) if depth == TESTED_DEPTH => {
                for import in s.clone() {
                    imports.push(import.ok()?.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(s) if depth == TESTED_DEPTH => {
                for export in s.clone() {
                    exports.push(export.ok()?.name.name.to_string());
                }
            }
            _ => {}
        }
        match validator.payload(&payload).ok()? {
            ValidPayload::Func(func, body) => match mode {
                Bodies::Skip => {}
                Bodies::Collect => bodies.push((func, body)),
                Bodies::Inline => {
                    let mut v = func.into_validator(std::mem::take(&mut allocs));
                    v.validate(&body).ok()?;
                    allocs = v.into_allocations();
                }
            },
            ValidPayload::Parser(_) => depth += 1,
            ValidPayload::End(types) => {
                if depth == TESTED_DEPTH {
                    shape_ok = decodes_as_checked(&types, &imports, &exports);
                }
                depth = depth.saturating_sub(1);
            }
            ValidPayload::Ok => {
                if let Payload::Version { .. } = payload {
                    depth += usize::from(depth == 0);
                }
            }
        }
    }
    shape_ok.then_some(bodies)
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
