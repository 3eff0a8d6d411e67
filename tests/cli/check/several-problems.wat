;; Every problem at once: a component that exports nothing of the world and
;; imports two interfaces no policy allows gets three findings in one run.
;; RUN: check % --wit wit/text-transform/0.2.0 --world plugin
;; RUN: check % --wit wit/text-transform/0.2.0 --world plugin --format json
(component
  (import "wasi:filesystem/types@0.2.0" (instance
    (export "sync-all" (func (result u32)))))
  (import "wasi:sockets/tcp@0.2.0" (instance
    (export "connect" (func (result u32)))))
)
