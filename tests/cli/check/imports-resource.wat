;; A plugin that imports a resource, `blob`, at the world level: the world
;; does not provide it, so it is a finding (the host could not instantiate
;; the plugin), unless the policy allows it.
;; RUN: check % --wit wit/text-transform/0.2.0 --world plugin
;; RUN: check % --wit wit/text-transform/0.2.0 --world plugin --format json
;; RUN: check % --wit wit/text-transform/0.2.0 --world plugin --allow-import blob
(component
  (import "blob" (type $blob (sub resource)))
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
      (i32.store8 (i32.const 16) (i32.const 0))
      (i32.store (i32.const 20) (local.get 0))
      (i32.store (i32.const 24) (local.get 1))
      (i32.const 16))
  )
  (core instance $i (instantiate $m))
  (type $err (variant (case "invalid-input" string) (case "processing-failed" string)))
  (type $res (result string (error $err)))
  (func $transform (param "input" string) (result $res)
    (canon lift (core func $i "transform") (memory $i "memory") (realloc (func $i "cabi_realloc"))))
  (component $shim
    (type $e (variant (case "invalid-input" string) (case "processing-failed" string)))
    (import "import-type-transform-error" (type $e2 (eq $e)))
    (type $r (result string (error $e2)))
    (type $f (func (param "input" string) (result $r)))
    (import "import-func-transform" (func $fi (type $f)))
    (type $e3 (variant (case "invalid-input" string) (case "processing-failed" string)))
    (export $e4 "transform-error" (type $e3))
    (type $r2 (result string (error $e4)))
    (type $f2 (func (param "input" string) (result $r2)))
    (export "transform" (func $fi) (func (type $f2)))
  )
  (instance $inst (instantiate $shim
    (with "import-func-transform" (func $transform))
    (with "import-type-transform-error" (type $err))))
  (export "example:text-transform/text-transform@0.2.0" (instance $inst))
)
