//! The generated head of an adapted pipeline: like a [`sequencer`], it
//! imports the chain's top-level elements (`stage0` ...) and calls them in
//! order, but it exports `pipectl:adapter/chain@0.1.0`, so it can tell the
//! adapter *which* element returned an error and the error's case name.
//!
//! Its core module is written with wasm-encoder. A data segment holds the
//! elements' names and a table of the error's cases (name, and whether the
//! case carries a string message); on an `err` the module fills the
//! `failure` record from the tables and the element's return area. The
//! elements are stages, or a middleware stage that wraps the rest of the
//! chain: an error passed on by a middleware is named by the middleware.

use wasm_encoder::{
    CodeSection, ConstExpr, DataSection, EntityType, ExportKind, ExportSection, Function,
    FunctionSection, GlobalSection, GlobalType, ImportSection, MemorySection, MemoryType, Module,
    TypeSection, ValType,
};
use wit_parser::{Int, Resolve, SizeAlign, Type, TypeDefKind};

use crate::adapter::{Adapter, CHAIN};
use crate::sequencer::{self, Contract, ContractError, crate_dealias, mem};

/// How the contract's error type lies in a stage's return area.
struct ErrorShape {
    /// The discriminant's offset in the return area and its size, when the
    /// error is a variant or an enum.
    tag: Option<(u32, Int)>,
    /// Each case's name and whether it carries a string message.
    cases: Vec<(String, bool)>,
    /// Where a case's string message lies in the return area.
    message: u32,
}

fn error_shape(contract: &Contract) -> Result<ErrorShape, ContractError> {
    let resolve = &contract.resolve;
    let payload = contract.layout.payload;
    let refuse = |found: String| ContractError {
        interface: contract.name.clone(),
        reason: format!(
            "an adapter reports a typed error as a case and a message, so the error must be a \
             variant, an enum or a string; `{}` returns `result<string, {found}>`",
            contract.function
        ),
    };
    let is_string = |t: &Type| matches!(pipectl_wit::types::dealias(resolve, *t), Type::String);
    let Some(error) = contract.layout.error else {
        return Ok(ErrorShape {
            tag: None,
            cases: vec![("error".into(), false)],
            message: payload,
        });
    };
    if is_string(&error) {
        return Ok(ErrorShape {
            tag: None,
            cases: vec![("error".into(), true)],
            message: payload,
        });
    }
    let Type::Id(id) = error else {
        return Err(refuse(format!("{error:?}").to_lowercase()));
    };
    let def = &resolve.types[crate_dealias(resolve, id)];
    let mut sizes = SizeAlign::default();
    sizes.fill(resolve);
    match &def.kind {
        TypeDefKind::Variant(v) => {
            let inner = sizes
                .payload_offset(v.tag(), v.cases.iter().map(|c| c.ty.as_ref()))
                .size_wasm32();
            Ok(ErrorShape {
                tag: Some((payload, v.tag())),
                cases: v
                    .cases
                    .iter()
                    .map(|c| (c.name.clone(), c.ty.as_ref().is_some_and(is_string)))
                    .collect(),
                message: payload + u32::try_from(inner).unwrap_or(u32::MAX),
            })
        }
        TypeDefKind::Enum(e) => Ok(ErrorShape {
            tag: Some((payload, e.tag())),
            cases: e.cases.iter().map(|c| (c.name.clone(), false)).collect(),
            message: payload,
        }),
        _ => Err(refuse(
            def.name
                .clone()
                .unwrap_or_else(|| "an anonymous type".into()),
        )),
    }
}

/// Where `result<string, failure>` puts things in the head's return area.
struct OutLayout {
    size: u32,
    /// The `ok` string, or the `failure` record, starts here.
    payload: u32,
    /// The record's `stage`, `case` and `message` strings, from `payload`.
    fields: [u32; 3],
}

fn out_layout(resolve: &Resolve) -> Result<OutLayout, String> {
    let chain = resolve
        .interfaces
        .iter()
        .find(|(id, _)| resolve.id_of(*id).as_deref() == Some(CHAIN))
        .map(|(_, i)| i)
        .ok_or_else(|| format!("the adapter does not import `{CHAIN}`"))?;
    let run = chain
        .functions
        .get("run")
        .ok_or_else(|| format!("`{CHAIN}` has no `run`"))?;
    let Some(Type::Id(result)) = run.result else {
        return Err("`run` does not return a result".into());
    };
    let TypeDefKind::Result(r) = &resolve.types[result].kind else {
        return Err("`run` does not return a result".into());
    };
    let Some(Type::Id(failure)) = r.err else {
        return Err("`run`'s error is not a record".into());
    };
    let TypeDefKind::Record(record) = &resolve.types[failure].kind else {
        return Err("`run`'s error is not a record".into());
    };
    let mut sizes = SizeAlign::default();
    sizes.fill(resolve);
    let offsets = sizes.field_offsets(record.fields.iter().map(|f| &f.ty));
    let field = |name: &str| {
        record
            .fields
            .iter()
            .position(|f| f.name == name)
            .map(|i| offsets[i].0.size_wasm32() as u32)
            .ok_or_else(|| format!("`failure` has no `{name}`"))
    };
    Ok(OutLayout {
        size: sizes.size(&Type::Id(result)).size_wasm32() as u32,
        payload: sizes
            .payload_offset(Int::U8, [r.ok.as_ref(), r.err.as_ref()])
            .size_wasm32() as u32,
        fields: [field("stage")?, field("case")?, field("message")?],
    })
}

/// Generates the head over elements named `names`, exporting the chain for
/// `adapter`, whose WIT (`bindgen`) defines it.
pub(crate) fn generate(
    contract: &Contract,
    names: &[String],
    adapter: Adapter,
    bindgen: Resolve,
) -> Result<Vec<u8>, ContractError> {
    let err = |reason: String| ContractError {
        interface: contract.name.clone(),
        reason,
    };
    let shape = error_shape(contract)?;
    let mut resolve = contract.resolve.clone();
    resolve
        .merge(bindgen)
        .map_err(|e| err(format!("the adapter's WIT does not merge: {e:#}")))?;
    let out = out_layout(&resolve).map_err(err)?;
    let (imports, version) = contract.stage_imports(names.len()).map_err(err)?;
    let src = format!(
        "package pipectl:head{version};\n\nworld head {{\n{imports}  export {CHAIN};\n}}\n"
    );
    let module = core_module(contract, names, &shape, &out, adapter);
    sequencer::encode_glue(module, resolve, &src, "head").map_err(err)
}

/// Addresses in the head's memory.
struct Map {
    /// The elements' return area.
    ret: u32,
    /// The head's own return area.
    out: u32,
    /// `(ptr, len)` of each element's name.
    stage_table: u32,
    /// `(ptr, len, has_message)` of each error case.
    case_table: u32,
    /// The bump arena.
    arena: u32,
}

/// The data segment: the two tables, then the strings they point at.
fn data(names: &[String], shape: &ErrorShape, map: &mut Map) -> Vec<u8> {
    let strings_at = map.case_table + 12 * shape.cases.len() as u32;
    let mut tables = Vec::new();
    let mut strings = Vec::new();
    let mut string = |s: &str, tables: &mut Vec<u8>| {
        let ptr = strings_at + strings.len() as u32;
        tables.extend_from_slice(&ptr.to_le_bytes());
        tables.extend_from_slice(&(s.len() as u32).to_le_bytes());
        strings.extend_from_slice(s.as_bytes());
    };
    for name in names {
        string(name, &mut tables);
    }
    for (case, has_message) in &shape.cases {
        string(case, &mut tables);
        tables.extend_from_slice(&u32::from(*has_message).to_le_bytes());
    }
    tables.extend_from_slice(&strings);
    map.arena = (map.stage_table + tables.len() as u32).next_multiple_of(16);
    tables
}

fn core_module(
    contract: &Contract,
    names: &[String],
    shape: &ErrorShape,
    out: &OutLayout,
    adapter: Adapter,
) -> Vec<u8> {
    let layout = &contract.layout;
    let stages = names.len() as u32;
    let ret = layout.align.max(8);
    let out_at = (ret + layout.size).next_multiple_of(8);
    let stage_table = (out_at + out.size).next_multiple_of(8);
    let mut map = Map {
        ret,
        out: out_at,
        stage_table,
        case_table: stage_table + 8 * stages,
        arena: 0,
    };
    let segment = data(names, shape, &mut map);

    let mut types = TypeSection::new();
    types.ty().function([ValType::I32; 3], []); // 0: a lowered element
    types.ty().function([ValType::I32; 4], [ValType::I32]); // 1: cabi_realloc
    types.ty().function([ValType::I32; 2], [ValType::I32]); // 2: run
    types.ty().function([ValType::I32], []); // 3: post-return
    types.ty().function([], [ValType::I32]); // 4: line-mode
    types.ty().function([], [ValType::I64]); // 5: max-body
    types.ty().function([ValType::I32], [ValType::I32]); // 6: fail
    let mut imports = ImportSection::new();
    for i in 0..stages {
        imports.import(
            &sequencer::stage_import(i as usize),
            &contract.function,
            EntityType::Function(0),
        );
    }
    let f = |k: u32| stages + k;
    let mut functions = FunctionSection::new();
    for ty in [1, 2, 3, 4, 5, 6] {
        functions.function(ty);
    }
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: u64::from(map.arena.div_ceil(65_536).max(1)),
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut globals = GlobalSection::new();
    globals.global(
        GlobalType {
            val_type: ValType::I32,
            mutable: true,
            shared: false,
        },
        &ConstExpr::i32_const(map.arena as i32),
    );
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("cabi_realloc", ExportKind::Func, f(0));
    exports.export(&format!("{CHAIN}#run"), ExportKind::Func, f(1));
    exports.export(&format!("cabi_post_{CHAIN}#run"), ExportKind::Func, f(2));
    exports.export(&format!("{CHAIN}#line-mode"), ExportKind::Func, f(3));
    exports.export(&format!("{CHAIN}#max-body"), ExportKind::Func, f(4));

    let mut code = CodeSection::new();
    code.function(&sequencer::realloc_body());
    code.function(&run_body(stages, &map, layout.payload, out, f(5)));
    code.function(&sequencer::post_return_body(map.arena));
    let mut line_mode = Function::new([]);
    line_mode
        .instructions()
        .i32_const(i32::from(adapter.line_mode()))
        .end();
    code.function(&line_mode);
    let mut max_body = Function::new([]);
    max_body
        .instructions()
        .i64_const(adapter.max_body() as i64)
        .end();
    code.function(&max_body);
    code.function(&fail_body(&map, shape, out));

    let mut data = DataSection::new();
    data.active(0, &ConstExpr::i32_const(map.stage_table as i32), segment);

    let mut module = Module::new();
    module
        .section(&types)
        .section(&imports)
        .section(&functions)
        .section(&memories)
        .section(&globals)
        .section(&exports)
        .section(&code)
        .section(&data);
    module.finish()
}

/// `run`: calls each element with the previous `ok` string; on the first
/// `err`, returns what `fail` makes of it.
fn run_body(stages: u32, map: &Map, payload: u32, out: &OutLayout, fail: u32) -> Function {
    const PTR: u32 = 0;
    const LEN: u32 = 1;
    let ret = map.ret as i32;
    let arena = map.arena as i32;
    let mut f = Function::new([]);
    let mut i = f.instructions();
    for stage in 0..stages {
        i.local_get(PTR).local_get(LEN).i32_const(ret).call(stage);
        i.i32_const(ret)
            .i32_load8_u(mem(0, 0))
            .if_(wasm_encoder::BlockType::Empty)
            .i32_const(stage as i32)
            .call(fail)
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
            i.i32_const(arena)
                .local_get(PTR)
                .local_get(LEN)
                .memory_copy(0, 0)
                .i32_const(arena)
                .local_set(PTR)
                .i32_const(arena)
                .local_get(LEN)
                .i32_add()
                .global_set(0);
        }
    }
    let o = map.out as i32;
    i.i32_const(o)
        .i32_const(0)
        .i32_store8(mem(0, 0))
        .i32_const(o)
        .local_get(PTR)
        .i32_store(mem(out.payload, 2))
        .i32_const(o)
        .local_get(LEN)
        .i32_store(mem(out.payload + 4, 2))
        .i32_const(o)
        .end();
    f
}

/// Copies the `(ptr, len)` pair at the address in local `entry` to
/// `base + at`.
fn copy_string(i: &mut wasm_encoder::InstructionSink<'_>, base: i32, at: u32, entry: u32) {
    for word in [0, 4] {
        i.i32_const(base)
            .local_get(entry)
            .i32_load(mem(word, 2))
            .i32_store(mem(at + word, 2));
    }
}

/// `fail(element)`: fills the `failure` record from the tables and the
/// element's return area; returns the head's return area.
fn fail_body(map: &Map, shape: &ErrorShape, out: &OutLayout) -> Function {
    const STAGE: u32 = 0;
    const ENTRY: u32 = 1;
    let o = map.out as i32;
    let [stage_at, case_at, message_at] = out.fields.map(|f| out.payload + f);
    let mut f = Function::new([(1, ValType::I32)]);
    let mut i = f.instructions();
    i.i32_const(o).i32_const(1).i32_store8(mem(0, 0));
    // The element's name.
    i.local_get(STAGE)
        .i32_const(8)
        .i32_mul()
        .i32_const(map.stage_table as i32)
        .i32_add()
        .local_set(ENTRY);
    copy_string(&mut i, o, stage_at, ENTRY);
    // The case's table entry, by the discriminant.
    match shape.tag {
        Some((at, Int::U8)) => i.i32_const(map.ret as i32).i32_load8_u(mem(at, 0)),
        Some((at, Int::U16)) => i.i32_const(map.ret as i32).i32_load16_u(mem(at, 1)),
        Some((at, _)) => i.i32_const(map.ret as i32).i32_load(mem(at, 2)),
        None => i.i32_const(0),
    };
    i.i32_const(12)
        .i32_mul()
        .i32_const(map.case_table as i32)
        .i32_add()
        .local_set(ENTRY);
    copy_string(&mut i, o, case_at, ENTRY);
    // The message, when the case carries a string; empty otherwise.
    i.local_get(ENTRY)
        .i32_load(mem(8, 2))
        .if_(wasm_encoder::BlockType::Empty);
    for word in [0, 4] {
        i.i32_const(o)
            .i32_const(map.ret as i32)
            .i32_load(mem(shape.message + word, 2))
            .i32_store(mem(message_at + word, 2));
    }
    i.else_();
    for word in [0, 4] {
        i.i32_const(o)
            .i32_const(0)
            .i32_store(mem(message_at + word, 2));
    }
    i.end();
    i.i32_const(o).end();
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract(error: &str) -> Result<Contract, ContractError> {
        let src = format!(
            "package a:b@1.0.0; interface text-transform {{
                variant v {{ bad(string), worse(string), code(u32), none }}
                enum e {{ first, second }}
                record r {{ message: string }}
                type alias = string;
                transform: func(input: string) -> {error};
            }}"
        );
        let mut resolve = Resolve::default();
        let pkg = resolve.push_str("c.wit", &src).unwrap();
        let iface = resolve.packages[pkg].interfaces["text-transform"];
        Contract::new(resolve, iface)
    }

    fn head(c: &Contract, names: &[&str], adapter: Adapter) -> Vec<u8> {
        let (bindgen, _) = adapter.bindgen().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        generate(c, &names, adapter, bindgen).unwrap()
    }

    #[test]
    fn reads_the_case_and_message_of_each_error_shape() {
        let c = contract("result<string, v>").unwrap();
        let shape = error_shape(&c).unwrap();
        assert_eq!(shape.tag.map(|t| t.0), Some(c.layout.payload));
        let cases: Vec<_> = shape.cases.iter().map(|(n, m)| (n.as_str(), *m)).collect();
        assert_eq!(
            cases,
            [
                ("bad", true),
                ("worse", true),
                ("code", false),
                ("none", false)
            ]
        );
        // The string of a case lies after the discriminant, aligned.
        assert_eq!(shape.message, c.layout.payload + 4);
        let e = error_shape(&contract("result<string, e>").unwrap()).unwrap();
        assert_eq!(e.cases.len(), 2);
        assert!(e.cases.iter().all(|(_, m)| !m));
        for error in ["result<string, string>", "result<string, alias>"] {
            let s = error_shape(&contract(error).unwrap()).unwrap();
            assert!(s.tag.is_none());
            assert_eq!(s.cases, [("error".to_string(), true)]);
        }
        let none = error_shape(&contract("result<string>").unwrap()).unwrap();
        assert_eq!(none.cases, [("error".to_string(), false)]);
        // A record cannot be told as a case: refused, naming it.
        let err = error_shape(&contract("result<string, r>").unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("variant, an enum or a string") && err.contains("result<string, r>"),
            "{err}"
        );
    }

    #[test]
    fn generates_valid_heads_for_both_adapters() {
        for (error, names) in [
            ("result<string, v>", &["one", "two", "three"][..]),
            ("result<string, e>", &["only"][..]),
            ("result<string, string>", &["a", "b"][..]),
            ("result<string>", &["a"][..]),
        ] {
            let c = contract(error).unwrap();
            for adapter in [
                Adapter::Cli { lines: true },
                Adapter::Http { max_body: 1024 },
            ] {
                let bytes = head(&c, names, adapter);
                wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
                    .validate_all(&bytes)
                    .unwrap();
                let wit_parser::decoding::DecodedWasm::Component(r, w) =
                    wit_parser::decoding::decode(&bytes).unwrap()
                else {
                    panic!("not a component")
                };
                let exports: Vec<_> = r.worlds[w]
                    .exports
                    .keys()
                    .map(|k| r.name_world_key(k))
                    .collect();
                assert_eq!(exports, [CHAIN]);
                assert_eq!(r.worlds[w].imports.len(), names.len());
            }
        }
    }
}
