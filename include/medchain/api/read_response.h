// Copyright (c) medchain developers.
// The binary form of a POST /v1/reads answer, for clients that ask for it
// with "Accept: application/vnd.medchain.read-response" (docs/api.md): no
// JSON and no base64 around the ciphertexts.
//
//   u8 1 | fixed32 access tx id | u64 height | u32 index | u64 leaf_index |
//   bytes result (TxResult) |
//   list<(str record_id | u32 version | str type | str patient | str custodian |
//         bytes ciphertext | bool has_key | [bytes wrapped_key])>
#pragma once

#include <string_view>

#include "medchain/api/backend.h"

namespace medchain::api {

inline constexpr std::string_view kReadResponseType = "application/vnd.medchain.read-response";

Bytes EncodeReadResponse(const ReadOutcome& outcome);
Result<ReadOutcome> DecodeReadResponse(ByteView bytes);

}  // namespace medchain::api
