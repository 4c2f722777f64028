{
  "targets": [
    {
      "target_name": "sivshm_native",
      "sources": [
        "native/addon.cc",
        "native/common.cc",
        "native/eventfd.cc",
        "native/fd.cc",
        "native/file_lock.cc",
        "native/mapping.cc",
        "native/poll.cc",
        "native/record_crypto.cc",
        "native/sigbus_guard.cc",
        "native/small_gcm.cc",
        "native/unix_socket.cc"
      ],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-cast-function-type"],
      "defines": ["_GNU_SOURCE"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
