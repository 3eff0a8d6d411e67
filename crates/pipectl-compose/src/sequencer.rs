//! The generated glue: a sequencer component that imports N instances of the
//! contract interface (`stage0` ... `stageN-1`), exports the interface, and
//! calls the stages in order.
//!
//! The core module is written with wasm-encoder for any N; wit-component
//! turns it into a component against a generated world whose stage imports
//! repeat the contract interface inline (WIT cannot import one named
//! interface several times).
//!
//! The module's memory is an arena. The host's input and every stage's
//! output land in it through the module's bump `cabi_realloc`. After each
//! stage returns `ok`, its output is moved to the arena's start and the bump
//! pointer reset, so the arena never holds more than the current string and
//! the next stage's output; `cabi_post_*` resets it after each call. The
//! first `err` is returned as the stage wrote it: every stage's return area
//! has the chain's layout.

use wasm_encoder::{
    CodeSection, ConstExpr, EntityType, ExportKind, ExportSection, Function, FunctionSection,
    GlobalSection, GlobalType, ImportSection, MemArg, MemorySection, MemoryType, Module,
    TypeSection, ValType,
};
use wit_parser::abi::{AbiVariant, WasmType};
use wit_parser::{
    Function as WitFunction, Int, InterfaceId, Resolve, SizeAlign, Type, TypeDefKind,
};

/// The interface a pipeline chains, and the function that does the work.
#[derive(Debug, Clone)]
pub struct Contract {
    /// The resolve the interface lives in (the target world's WIT).
    pub resolve: Resolve,
    /// The interface, e.g. `example:text-transform/text-transform@0.2.0`.
    pub interface: InterfaceId,
    /// Its full name, the export name of the composition.
    pub name: String,
    /// The function chained: its only function, `transform`.
    pub function: String,
    pub(crate) layout: Layout,
}

/// Where the canonical ABI puts things for `func(string) -> result<string, E>`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    /// Offset of the `ok` string's pointer in the return area (its length
    /// follows 4 bytes later).
    pub(crate) payload: u32,
    /// Size of the return area.
    pub(crate) size: u32,
    /// Alignment of the return area.
    pub(crate) align: u32,
    /// The error type, `E` in `result<string, E>` (none for `result<string>`).
    pub(crate) error: Option<Type>,
}

/// Why the contract interface cannot be chained.
#[derive(Debug, thiserror::Error)]
#[error("interface `{interface}` cannot be chained: {reason}")]
pub struct ContractError {
    /// The interface's full name, `ns:pkg/iface@version`, or `<inline interface>`.
    pub interface: String,
    /// Why it cannot be chained, e.g. not exactly one function.
    pub reason: String,
}

impl Contract {
    /// Checks that `interface` in `resolve` can be chained: exactly one
    /// function, taking one `string` and returning `result<string, E>`.
    pub fn new(resolve: Resolve, interface: InterfaceId) -> Result<Self, ContractError> {
        let name = resolve
            .id_of(interface)
            .unwrap_or_else(|| "<inline interface>".to_string());
        let err = |reason: String| ContractError {
            interface: name.clone(),
            reason,
        };
        let iface = &resolve.interfaces[interface];
        let mut funcs = iface.functions.values();
        let (Some(func), None) = (funcs.next(), funcs.next()) else {
            return Err(err(format!(
                "a pipeline stage interface has exactly one function; it has {}",
                iface.functions.len()
            )));
        };
        let layout = layout(&resolve, func).map_err(err)?;
        Ok(Self {
            function: func.name.clone(),
            resolve,
            interface,
            name,
            layout,
        })
    }

    /// The WIT source of the sequencer's world for `stages` stages.
    fn world_source(&self, stages: usize) -> Result<String, String> {
        let (imports, version) = self.stage_imports(stages)?;
        let mut src = format!("package pipectl:sequencer{version};\n\nworld sequencer {{\n");
        src.push_str(&imports);
        src.push_str(&format!("  export {};\n}}\n", self.name));
        Ok(src)
    }

    /// The WIT of a glue world's stage imports, `stage0` to `stages - 1`,
    /// each the contract interface inline, and the contract's `@version`
    /// (so `@since` gates copied with the interface stay valid).
    pub(crate) fn stage_imports(&self, stages: usize) -> Result<(String, String), String> {
        let mut printer = wit_component::WitPrinter::default();
        printer.emit_docs(false);
        printer
            .print_interface(&self.resolve, self.interface)
            .map_err(|e| format!("failed to print the interface: {e:#}"))?;
        let mut body: String = printer.output.into();
        // The printer names interfaces of the contract's own package by
        // their short name (`use types.{...}`); in the glue's package those
        // must be qualified.
        if let Some(pkg) = self.resolve.interfaces[self.interface].package {
            let pkg = &self.resolve.packages[pkg];
            let name = &pkg.name;
            let version = name
                .version
                .as_ref()
                .map_or(String::new(), |v| format!("@{v}"));
            for short in pkg.interfaces.keys() {
                // Every part escaped, so keywords (`stream`) stay names.
                let full = format!("%{}:%{}/%{short}{version}", name.namespace, name.name);
                // The printer escapes keywords itself (`use %stream.{`).
                for printed in [short.to_string(), format!("%{short}")] {
                    body = body.replace(&format!("use {printed}.{{"), &format!("use {full}.{{"));
                }
            }
        }
        // The contract's version, so `@since` gates copied with the
        // interface stay valid.
        let version = self.resolve.interfaces[self.interface]
            .package
            .and_then(|p| self.resolve.packages[p].name.version.clone())
            .map_or(String::new(), |v| format!("@{v}"));
        let mut src = String::new();
        for i in 0..stages {
            src.push_str(&format!(
                "  import {}: interface {{\n{body}\n  }}\n",
                stage_import(i)
            ));
        }
        Ok((src, version))
    }
}

/// The import name of stage `i` in a sequencer: `stage0`, `stage1`, ...
/// (`stage-0` would not be a valid component-model label).
pub fn stage_import(i: usize) -> String {
    format!("stage{i}")
}

fn layout(resolve: &Resolve, func: &WitFunction) -> Result<Layout, String> {
    let shape = "it must be `func(<name>: string) -> result<string, <error>>`";
    if func.kind.is_async() || func.kind.resource().is_some() {
        return Err(format!("`{}` is not a plain function; {shape}", func.name));
    }
    let [param] = &func.params[..] else {
        return Err(format!(
            "`{}` takes {} parameters; {shape}",
            func.name,
            func.params.len()
        ));
    };
    if param.ty != Type::String {
        return Err(format!(
            "`{}`'s parameter is not a string; {shape}",
            func.name
        ));
    }
    let result = match func.result {
        Some(Type::Id(id)) => match &resolve.types[crate_dealias(resolve, id)].kind {
            TypeDefKind::Result(r) if r.ok == Some(Type::String) => r.clone(),
            _ => {
                return Err(format!(
                    "`{}` does not return `result<string, _>`; {shape}",
                    func.name
                ));
            }
        },
        _ => return Err(format!("`{}` does not return a result; {shape}", func.name)),
    };
    // The flat signatures this module is written for.
    let is_i32 = |t: &WasmType| matches!(t, WasmType::I32 | WasmType::Pointer | WasmType::Length);
    let import = resolve.wasm_signature(AbiVariant::GuestImport, func);
    let export = resolve.wasm_signature(AbiVariant::GuestExport, func);
    if !(import.params.len() == 3 && import.params.iter().all(is_i32) && import.results.is_empty())
        || !(export.params.len() == 2
            && export.params.iter().all(is_i32)
            && export.results.len() == 1
            && is_i32(&export.results[0]))
    {
        return Err(format!(
            "`{}` has an unexpected canonical ABI signature",
            func.name
        ));
    }
    let mut sizes = SizeAlign::default();
    sizes.fill(resolve);
    let payload = sizes
        .payload_offset(Int::U8, [result.ok.as_ref(), result.err.as_ref()])
        .size_wasm32();
    let ty = func.result.unwrap_or(Type::Bool);
    Ok(Layout {
        payload: u32::try_from(payload).map_err(|e| e.to_string())?,
        size: u32::try_from(sizes.size(&ty).size_wasm32()).map_err(|e| e.to_string())?,
        align: u32::try_from(sizes.align(&ty).align_wasm32()).map_err(|e| e.to_string())?,
        error: result.err,
    })
}

pub(crate) fn crate_dealias(resolve: &Resolve, id: wit_parser::TypeId) -> wit_parser::TypeId {
    match pipectl_wit::types::dealias(resolve, Type::Id(id)) {
        Type::Id(id) => id,
        _ => id,
    }
}

/// Generates a sequencer component chaining `stages` instances of
/// `contract`'s interface. With 0 stages it returns its input: the end of a
/// chain that closes with a middleware stage.
pub fn generate(contract: &Contract, stages: usize) -> Result<Vec<u8>, ContractError> {
    let err = |reason: String| ContractError {
        interface: contract.name.clone(),
        reason,
    };
    let module = core_module(contract, stages);
    let src = contract.world_source(stages).map_err(err)?;
    encode_glue(module, contract.resolve.clone(), &src, "sequencer").map_err(err)
}

/// Makes generated glue a component: `module` with the world `world` that
/// `src` (pushed into `resolve`) defines embedded as its WIT. Not validated
/// here: wac-graph validates it when it is registered, and the whole
/// composition when it is encoded.
pub(crate) fn encode_glue(
    mut module: Vec<u8>,
    mut resolve: Resolve,
    src: &str,
    world: &str,
) -> Result<Vec<u8>, String> {
    let pkg = resolve
        .push_str(format!("pipectl-{world}.wit"), src)
        .map_err(|e| format!("the generated {world} world does not resolve: {e:#}"))?;
    let id = resolve.packages[pkg].worlds[world];
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        id,
        wit_component::StringEncoding::UTF8,
    )
    .map_err(|e| format!("failed to embed the {world}'s WIT: {e:#}"))?;
    wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|encoder| encoder.encode())
        .map_err(|e| format!("failed to encode the {world} component: {e:#}"))
}

/// Function indices in the core module.
struct Funcs {
    realloc: u32,
    transform: u32,
    post_return: u32,
}

fn core_module(contract: &Contract, stages: usize) -> Vec<u8> {
    let Layout {
        payload,
        size,
        align,
        ..
    } = contract.layout;
    let stages = u32::try_from(stages).expect("stage counts fit in u32");
    // The return area sits at a fixed address; the arena follows it.
    let ret_area = align.max(8);
    let arena = (ret_area + size).next_multiple_of(16);
    let page = 65_536u32;

    let mut types = TypeSection::new();
    types.ty().function([ValType::I32; 3], []); // 0: a lowered stage import
    types.ty().function([ValType::I32; 4], [ValType::I32]); // 1: cabi_realloc
    types.ty().function([ValType::I32; 2], [ValType::I32]); // 2: the lifted export
    types.ty().function([ValType::I32], []); // 3: post-return

    let mut imports = ImportSection::new();
    for i in 0..stages {
        imports.import(
            &stage_import(i as usize),
            &contract.function,
            EntityType::Function(0),
        );
    }
    let funcs = Funcs {
        realloc: stages,
        transform: stages + 1,
        post_return: stages + 2,
    };
    let mut functions = FunctionSection::new();
    functions.function(1).function(2).function(3);

    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: u64::from(arena.div_ceil(page).max(1)),
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut globals = GlobalSection::new();
    // Global 0: the bump pointer.
    globals.global(
        GlobalType {
            val_type: ValType::I32,
            mutable: true,
            shared: false,
        },
        &ConstExpr::i32_const(arena as i32),
    );

    let export_name = format!("{}#{}", contract.name, contract.function);
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("cabi_realloc", ExportKind::Func, funcs.realloc);
    exports.export(&export_name, ExportKind::Func, funcs.transform);
    exports.export(
        &format!("cabi_post_{export_name}"),
        ExportKind::Func,
        funcs.post_return,
    );

    let mut code = CodeSection::new();
    code.function(&realloc_body());
    code.function(&transform_body(stages, ret_area, arena, payload));
    code.function(&post_return_body(arena));

    let mut module = Module::new();
    module
        .section(&types)
        .section(&imports)
        .section(&functions)
        .section(&memories)
        .section(&globals)
        .section(&exports)
        .section(&code);
    module.finish()
}

pub(crate) fn mem(offset: u32, align_log2: u32) -> MemArg {
    MemArg {
        offset: u64::from(offset),
        align: align_log2,
        memory_index: 0,
    }
}

/// `cabi_realloc(old_ptr, old_len, align, new_len) -> ptr`: bump-allocates,
/// growing memory as needed, and copies the old block when reallocating.
pub(crate) fn realloc_body() -> Function {
    const OLD_PTR: u32 = 0;
    const OLD_LEN: u32 = 1;
    const ALIGN: u32 = 2;
    const NEW_LEN: u32 = 3;
    const PTR: u32 = 4;
    const END: u32 = 5;
    let mut f = Function::new([(2, ValType::I32)]);
    let mut i = f.instructions();
    // ptr = (heap + align - 1) & -align
    i.global_get(0)
        .local_get(ALIGN)
        .i32_add()
        .i32_const(1)
        .i32_sub()
        .i32_const(0)
        .local_get(ALIGN)
        .i32_sub()
        .i32_and()
        .local_set(PTR);
    // end = ptr + new_len, trapping on overflow of the 32-bit space.
    i.local_get(PTR)
        .local_get(NEW_LEN)
        .i32_add()
        .local_tee(END)
        .local_get(PTR)
        .i32_lt_u()
        .if_(wasm_encoder::BlockType::Empty)
        .unreachable()
        .end();
    // Grow when the pages needed, (end + 65535) >> 16 computed in 64 bits,
    // exceed memory.size.
    i.local_get(END)
        .i64_extend_i32_u()
        .i64_const(65_535)
        .i64_add()
        .i64_const(16)
        .i64_shr_u()
        .i32_wrap_i64()
        .memory_size(0)
        .i32_sub()
        .local_tee(END) // reuse END as "pages missing" until it is recomputed
        .i32_const(0)
        .i32_gt_s()
        .if_(wasm_encoder::BlockType::Empty)
        .local_get(END)
        .memory_grow(0)
        .i32_const(-1)
        .i32_eq()
        .if_(wasm_encoder::BlockType::Empty)
        .unreachable()
        .end()
        .end();
    // heap = ptr + new_len
    i.local_get(PTR).local_get(NEW_LEN).i32_add().global_set(0);
    // Reallocation: copy min(old_len, new_len) bytes over.
    i.local_get(OLD_LEN)
        .if_(wasm_encoder::BlockType::Empty)
        .local_get(PTR)
        .local_get(OLD_PTR)
        .local_get(OLD_LEN)
        .local_get(NEW_LEN)
        .local_get(OLD_LEN)
        .local_get(NEW_LEN)
        .i32_lt_u()
        .select()
        .memory_copy(0, 0)
        .end();
    i.local_get(PTR).end();
    f
}

/// The exported function: calls each stage with the previous `ok` string,
/// returning the first `err` return area as it is.
fn transform_body(stages: u32, ret_area: u32, arena: u32, payload: u32) -> Function {
    const PTR: u32 = 0;
    const LEN: u32 = 1;
    let ret = ret_area as i32;
    let mut f = Function::new([]);
    let mut i = f.instructions();
    for stage in 0..stages {
        i.local_get(PTR).local_get(LEN).i32_const(ret).call(stage);
        // err: hand the stage's return area back as the chain's.
        i.i32_const(ret)
            .i32_load8_u(mem(0, 0))
            .if_(wasm_encoder::BlockType::Empty)
            .i32_const(ret)
            .return_()
            .end();
        i.i32_const(ret)
            .i32_load(mem(payload, 2))
            .local_set(PTR)
            .i32_const(ret)
            .i32_load(mem(payload + 4, 2))
            .local_set(LEN);
        if stage + 1 < stages {
            // Keep only the current string: move it to the arena's start.
            i.i32_const(arena as i32)
                .local_get(PTR)
                .local_get(LEN)
                .memory_copy(0, 0)
                .i32_const(arena as i32)
                .local_set(PTR)
                .i32_const(arena as i32)
                .local_get(LEN)
                .i32_add()
                .global_set(0);
        }
    }
    // ok(ptr, len)
    i.i32_const(ret)
        .i32_const(0)
        .i32_store8(mem(0, 0))
        .i32_const(ret)
        .local_get(PTR)
        .i32_store(mem(payload, 2))
        .i32_const(ret)
        .local_get(LEN)
        .i32_store(mem(payload + 4, 2))
        .i32_const(ret)
        .end();
    f
}

/// `cabi_post_*`: the host has copied the result out; empty the arena.
pub(crate) fn post_return_body(arena: u32) -> Function {
    let mut f = Function::new([]);
    f.instructions().i32_const(arena as i32).global_set(0).end();
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn contract(src: &str) -> Result<Contract, ContractError> {
        let mut resolve = Resolve::default();
        let pkg = resolve.push_str("c.wit", src).unwrap();
        let iface = resolve.packages[pkg].interfaces["text-transform"];
        Contract::new(resolve, iface)
    }

    const TEXT_TRANSFORM: &str = "package example:text-transform@0.2.0;
        interface text-transform {
            variant transform-error { invalid-input(string), processing-failed(string) }
            transform: func(input: string) -> result<string, transform-error>;
        }";

    #[test]
    fn generates_valid_sequencers_for_any_count() {
        let c = contract(TEXT_TRANSFORM).unwrap();
        assert_eq!(
            (c.layout.payload, c.layout.size, c.layout.align),
            (4, 16, 4)
        );
        for n in [0, 1, 3, 17] {
            let bytes = generate(&c, n).unwrap();
            wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
                .validate_all(&bytes)
                .unwrap();
            let decoded = wit_parser::decoding::decode(&bytes).unwrap();
            let wit_parser::decoding::DecodedWasm::Component(r, w) = decoded else {
                panic!("not a component")
            };
            let world = &r.worlds[w];
            let imports: Vec<_> = world.imports.keys().map(|k| r.name_world_key(k)).collect();
            let expected: Vec<_> = (0..n).map(stage_import).collect();
            assert_eq!(imports, expected);
            let exports: Vec<_> = world.exports.keys().map(|k| r.name_world_key(k)).collect();
            assert_eq!(exports, ["example:text-transform/text-transform@0.2.0"]);
        }
    }

    #[test]
    fn lays_out_wider_error_payloads() {
        let c = contract(
            "package a:b@1.0.0; interface text-transform {
                record detail { code: u64, message: string }
                transform: func(input: string) -> result<string, detail>;
            }",
        )
        .unwrap();
        // The u64 in the error aligns the payload to 8.
        assert_eq!((c.layout.payload, c.layout.align), (8, 8));
        generate(&c, 2).unwrap();
    }

    #[test]
    fn chains_contracts_whose_interface_uses_another() {
        let c = contract(
            "package a:b@1.0.0;
            interface types { variant transform-error { bad(string) } }
            interface text-transform {
                use types.{transform-error};
                transform: func(input: string) -> result<string, transform-error>;
            }",
        )
        .unwrap();
        let bytes = generate(&c, 2).unwrap();
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&bytes)
            .unwrap();
        // An interface whose name is a keyword is printed escaped.
        let c = contract(
            "package a:b@1.0.0;
            interface %stream { variant transform-error { bad(string) } }
            interface text-transform {
                use %stream.{transform-error};
                transform: func(input: string) -> result<string, transform-error>;
            }",
        )
        .unwrap();
        generate(&c, 3).unwrap();
    }

    #[test]
    fn refuses_interfaces_it_cannot_chain() {
        let cases = [
            (
                "f: func(a: string) -> result<string>; g: func();",
                "exactly one function",
            ),
            ("f: func(a: u32) -> result<string>;", "not a string"),
            (
                "f: func(a: string, b: string) -> result<string>;",
                "takes 2 parameters",
            ),
            ("f: func(a: string) -> string;", "does not return a result"),
            (
                "f: func(a: string) -> result<u32, string>;",
                "result<string, _>",
            ),
        ];
        for (body, expected) in cases {
            let src = format!("package a:b@1.0.0; interface text-transform {{ {body} }}");
            let err = contract(&src).unwrap_err().to_string();
            assert!(err.contains(expected), "{body}: {err}");
        }
    }
}
