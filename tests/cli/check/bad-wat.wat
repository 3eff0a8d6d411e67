;; WAT that does not parse: the error points at the line.
;; RUN: check % --wit wit/text-transform/0.2.0 --world plugin
(component
  (core module (func i32.bogus))
)
