// The protobuf message both processes of the full-path benchmark echo.
export const SCHEMA =
  'syntax = "proto3"; package b; message Echo { uint32 seq = 1; bytes data = 2; }';
