// The protobuf messages of proto/audio.proto as TypeScript types (proto3: a field left out of a
// decoded message means its default, so every field is declared optional where it is read).
export interface MediaVolume {
  volume: number;
  muted?: boolean;
}
export interface SetVolumeRequest {
  volume: number;
}
export interface SetVolumeResponse {
  previous?: number;
}
