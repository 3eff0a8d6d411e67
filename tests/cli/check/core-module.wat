;; A core module is not a component; the error says how to make one.
;; RUN: check % --wit wit/text-transform/0.2.0 --world plugin
(module
  (func (export "transform") (param i32 i32) (result i32) i32.const 0)
)
