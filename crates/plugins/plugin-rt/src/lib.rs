//! The runtime a `no_std` plugin needs, and nothing more.
//!
//! On `wasm32-wasip2`, std's panic hook and stdio paths make every component
//! import 13 WASI interfaces (`wasi:cli/stderr`, `wasi:cli/environment` for
//! `RUST_BACKTRACE`, `wasi:io/streams`, the `terminal-*` ones, ...) even when
//! the plugin does no I/O. A plugin that links this crate instead of std gets:
//!
//! - a global allocator (dlmalloc over `memory.grow`),
//! - a panic handler that traps (the host reports the trap and its stage),
//! - `memcmp`, `memcpy` and friends from wasi-libc's static `libc.a` (pure
//!   functions: linking them adds no import),
//! - the `cabi_realloc` export the canonical ABI uses to hand strings in;
//!   wasi-libc provides it on `wasm32-wasip2` builds that link std, and
//!   wit-bindgen only provides its own for `wasm32-unknown-unknown`/`wasip1`.
//!
//! so the component imports nothing. Use it with `use plugin_rt as _;`.
#![no_std]

#[cfg(target_arch = "wasm32")]
mod wasm {
    extern crate alloc;

    use alloc::alloc::{Layout, alloc, realloc};

    // The `mem*` functions that `core` calls come from wasi-libc on this
    // target; only the objects that define them are pulled from `libc.a`.
    #[link(name = "c")]
    unsafe extern "C" {}

    #[global_allocator]
    static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
        core::arch::wasm32::unreachable()
    }

    /// The canonical ABI's allocation function: allocates `new_len` bytes
    /// aligned to `align` when `old_len` is 0, otherwise grows `old_ptr`.
    ///
    /// # Safety
    /// Called only by the component model's lifting and lowering code, with
    /// `align` a power of two and `old_ptr`/`old_len`/`align` describing a
    /// block this function returned before.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn cabi_realloc(
        old_ptr: *mut u8,
        old_len: usize,
        align: usize,
        new_len: usize,
    ) -> *mut u8 {
        if new_len == 0 {
            // A zero-sized block: any non-null, aligned pointer will do.
            return align as *mut u8;
        }
        // SAFETY: the canonical ABI passes a power-of-two `align`, and a
        // non-zero `old_len` only with a block allocated here with that
        // layout.
        let ptr = unsafe {
            if old_len == 0 {
                alloc(Layout::from_size_align_unchecked(new_len, align))
            } else {
                realloc(
                    old_ptr,
                    Layout::from_size_align_unchecked(old_len, align),
                    new_len,
                )
            }
        };
        if ptr.is_null() {
            core::arch::wasm32::unreachable()
        }
        ptr
    }
}
