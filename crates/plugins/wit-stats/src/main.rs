//! `pipectl wit-stats FILE`: an example command plugin, a `wasi:cli/command`
//! component. Prints how many interfaces and functions the WIT package in
//! FILE defines. It sees only the directories `pipectl plugin add --dir`
//! granted it.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, file] = args.as_slice() else {
        eprintln!("usage: wit-stats FILE.wit");
        return ExitCode::from(2);
    };
    let mut resolve = wit_parser::Resolve::new();
    let package = match resolve.push_file(file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("wit-stats: {file}: {e:#}");
            return ExitCode::from(2);
        }
    };
    let pkg = &resolve.packages[package];
    let interfaces = pkg.interfaces.len();
    let functions: usize = pkg
        .interfaces
        .values()
        .map(|&i| resolve.interfaces[i].functions.len())
        .sum::<usize>()
        + pkg
            .worlds
            .values()
            .map(|&w| {
                let world = &resolve.worlds[w];
                world
                    .imports
                    .values()
                    .chain(world.exports.values())
                    .filter(|item| matches!(item, wit_parser::WorldItem::Function(_)))
                    .count()
            })
            .sum::<usize>();
    println!("package: {}", pkg.name);
    println!("interfaces: {interfaces}");
    println!("functions: {functions}");
    ExitCode::SUCCESS
}
