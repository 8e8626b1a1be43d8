#pragma once
// The KMIP 1.x tags and enumeration values Keygate uses (KMIP 1.2 spec §9.1.3).

#include <cstdint>

namespace keygate::backends::kmip {

namespace tag {
inline constexpr uint32_t kAttribute = 0x420008;
inline constexpr uint32_t kAttributeIndex = 0x420009;
inline constexpr uint32_t kAttributeName = 0x42000A;
inline constexpr uint32_t kAttributeValue = 0x42000B;
inline constexpr uint32_t kBatchCount = 0x42000D;
inline constexpr uint32_t kBatchItem = 0x42000F;
inline constexpr uint32_t kBlockCipherMode = 0x420011;
inline constexpr uint32_t kCommonTemplateAttribute = 0x42001F;
inline constexpr uint32_t kCompromiseOccurrenceDate = 0x420021;
inline constexpr uint32_t kCryptographicAlgorithm = 0x420028;
inline constexpr uint32_t kCryptographicLength = 0x42002A;
inline constexpr uint32_t kCryptographicParameters = 0x42002B;
inline constexpr uint32_t kCryptographicUsageMask = 0x42002C;
inline constexpr uint32_t kHashingAlgorithm = 0x420038;
inline constexpr uint32_t kIvCounterNonce = 0x42003D;
inline constexpr uint32_t kMaximumItems = 0x42004F;
inline constexpr uint32_t kName = 0x420053;
inline constexpr uint32_t kNameType = 0x420054;
inline constexpr uint32_t kNameValue = 0x420055;
inline constexpr uint32_t kObjectGroup = 0x420056;
inline constexpr uint32_t kObjectType = 0x420057;
inline constexpr uint32_t kOperation = 0x42005C;
inline constexpr uint32_t kPaddingMethod = 0x42005F;
inline constexpr uint32_t kPrivateKeyTemplateAttribute = 0x420065;
inline constexpr uint32_t kPrivateKeyUniqueIdentifier = 0x420066;
inline constexpr uint32_t kProtocolVersion = 0x420069;
inline constexpr uint32_t kProtocolVersionMajor = 0x42006A;
inline constexpr uint32_t kProtocolVersionMinor = 0x42006B;
inline constexpr uint32_t kPublicKeyTemplateAttribute = 0x42006E;
inline constexpr uint32_t kPublicKeyUniqueIdentifier = 0x42006F;
inline constexpr uint32_t kRequestHeader = 0x420077;
inline constexpr uint32_t kRequestMessage = 0x420078;
inline constexpr uint32_t kRequestPayload = 0x420079;
inline constexpr uint32_t kResponseHeader = 0x42007A;
inline constexpr uint32_t kResponseMessage = 0x42007B;
inline constexpr uint32_t kResponsePayload = 0x42007C;
inline constexpr uint32_t kResultMessage = 0x42007D;
inline constexpr uint32_t kResultReason = 0x42007E;
inline constexpr uint32_t kResultStatus = 0x42007F;
inline constexpr uint32_t kRevocationReason = 0x420081;
inline constexpr uint32_t kRevocationReasonCode = 0x420082;
inline constexpr uint32_t kState = 0x42008D;
inline constexpr uint32_t kTemplateAttribute = 0x420091;
inline constexpr uint32_t kUniqueIdentifier = 0x420094;
inline constexpr uint32_t kData = 0x4200C2;
inline constexpr uint32_t kSignatureData = 0x4200C3;
inline constexpr uint32_t kValidityIndicator = 0x42009B;
inline constexpr uint32_t kMacData = 0x4200C6;
inline constexpr uint32_t kTagLength = 0x4200CE;                              // KMIP 1.4
inline constexpr uint32_t kAuthenticatedEncryptionAdditionalData = 0x4200FE;  // KMIP 1.4
inline constexpr uint32_t kAuthenticatedEncryptionTag = 0x4200FF;             // KMIP 1.4
inline constexpr uint32_t kDigitalSignatureAlgorithm = 0x4200AE;
inline constexpr uint32_t kQueryFunction = 0x420074;
}  // namespace tag

enum class Operation : uint32_t {
  kCreate = 1,
  kCreateKeyPair = 2,
  kLocate = 8,
  kGetAttributes = 11,
  kActivate = 18,
  kRevoke = 19,
  kDestroy = 20,
  kEncrypt = 31,
  kDecrypt = 32,
  kSign = 33,
  kSignatureVerify = 34,
  kMac = 35,
  kQuery = 24,
};
const char* operationName(Operation op);

namespace value {
// Object Type
inline constexpr uint32_t kSymmetricKey = 2, kPublicKey = 3, kPrivateKey = 4;
// Cryptographic Algorithm
inline constexpr uint32_t kAes = 3, kRsa = 4, kEcdsa = 6, kHmacSha256 = 9;
// Cryptographic Usage Mask bits
inline constexpr uint32_t kSign = 0x1, kVerify = 0x2, kEncrypt = 0x4, kDecrypt = 0x8, kWrapKey = 0x10,
                          kUnwrapKey = 0x20, kMacGenerate = 0x80, kMacVerify = 0x100;
// State
inline constexpr uint32_t kPreActive = 1, kActive = 2, kDeactivated = 3, kCompromised = 4, kDestroyed = 5,
                          kDestroyedCompromised = 6;
// Revocation Reason Code
inline constexpr uint32_t kKeyCompromise = 2, kCessationOfOperation = 6;
// Name Type
inline constexpr uint32_t kUninterpretedTextString = 1;
// Recommended Curve
inline constexpr uint32_t kP256 = 7, kP384 = 10;
// Block Cipher Mode, Padding Method, Hashing Algorithm, Digital Signature Algorithm
inline constexpr uint32_t kGcm = 9;
inline constexpr uint32_t kCbc = 1, kPkcs5 = 3, kPss = 10, kSha256 = 6, kSha256WithRsa = 5, kEcdsaWithSha256 = 14;
// Query Function
inline constexpr uint32_t kQueryOperations = 1;
// Result Status / Validity Indicator
inline constexpr uint32_t kSuccess = 0, kValid = 1;
}  // namespace value

}  // namespace keygate::backends::kmip
