;; A hand-written component whose `transform` returns `string`, not
;; `result<string, transform-error>`: the finding names interface, function,
;; expected and found types.
;; RUN: check % --wit wit/text-transform/0.2.0 --world plugin
;; RUN: check % --wit wit/text-transform/0.2.0 --world plugin --format json
(component
  (core module $m
    (memory (export "memory") 1)
    (global $bump (mut i32) (i32.const 1024))
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (global.get $bump))
      (global.set $bump (i32.add (global.get $bump) (local.get 3)))
      (local.get $p))
    ;; Echoes its input.
    (func (export "transform") (param i32 i32) (result i32)
      (i32.store (i32.const 16) (local.get 0))
      (i32.store (i32.const 20) (local.get 1))
      (i32.const 16))
  )
  (core instance $i (instantiate $m))
  (func $transform (param "input" string) (result string)
    (canon lift (core func $i "transform") (memory $i "memory") (realloc (func $i "cabi_realloc"))))
  (component $shim
    (type $f (func (param "input" string) (result string)))
    (import "import-func-transform" (func $fi (type $f)))
    (export "transform" (func $fi) (func (type $f)))
  )
  (instance $inst (instantiate $shim
    (with "import-func-transform" (func $transform))))
  (export "example:text-transform/text-transform@0.2.0" (instance $inst))
)
