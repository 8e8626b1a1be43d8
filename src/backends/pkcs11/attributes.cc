#include "backends/pkcs11/attributes.h"

#include "backends/pkcs11/ck_errors.h"

namespace keygate::backends::pkcs11 {
namespace {

// C_GetAttributeValue reports per-attribute problems with these codes while still filling
// the attributes it could read.
bool partial(CK_RV rv) { return rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE; }

}  // namespace

Result<std::vector<std::pair<CK_ATTRIBUTE_TYPE, std::optional<bool>>>> readBools(
    Cryptoki& ck, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, std::span<const CK_ATTRIBUTE_TYPE> types) {
  std::vector<CK_BBOOL> values(types.size(), CK_FALSE);
  std::vector<CK_ATTRIBUTE> tmpl(types.size());
  for (size_t i = 0; i < types.size(); ++i) tmpl[i] = CK_ATTRIBUTE{types[i], &values[i], sizeof(CK_BBOOL)};
  CK_RV rv = ck.getAttributeValue(s, o, tmpl);
  if (rv != CKR_OK && !partial(rv)) return ckError("C_GetAttributeValue", rv);
  std::vector<std::pair<CK_ATTRIBUTE_TYPE, std::optional<bool>>> out;
  for (size_t i = 0; i < types.size(); ++i) {
    std::optional<bool> v;
    if (tmpl[i].ulValueLen == sizeof(CK_BBOOL)) v = values[i] != CK_FALSE;
    out.emplace_back(types[i], v);
  }
  return out;
}

Result<std::optional<CK_ULONG>> readUlong(Cryptoki& ck, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                                          CK_ATTRIBUTE_TYPE type) {
  CK_ULONG value = 0;
  CK_ATTRIBUTE a{type, &value, sizeof(value)};
  CK_RV rv = ck.getAttributeValue(s, o, std::span<CK_ATTRIBUTE>(&a, 1));
  if (partial(rv)) return std::optional<CK_ULONG>();
  if (rv != CKR_OK) return ckError("C_GetAttributeValue", rv);
  if (a.ulValueLen != sizeof(value)) return std::optional<CK_ULONG>();
  return std::optional<CK_ULONG>(value);
}

Result<std::optional<Bytes>> readBytes(Cryptoki& ck, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                                       CK_ATTRIBUTE_TYPE type) {
  CK_ATTRIBUTE a{type, nullptr, 0};
  CK_RV rv = ck.getAttributeValue(s, o, std::span<CK_ATTRIBUTE>(&a, 1));
  if (partial(rv)) return std::optional<Bytes>();
  if (rv != CKR_OK) return ckError("C_GetAttributeValue", rv);
  if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION) return std::optional<Bytes>();
  Bytes b(a.ulValueLen);
  a.pValue = b.data();
  rv = ck.getAttributeValue(s, o, std::span<CK_ATTRIBUTE>(&a, 1));
  if (partial(rv)) return std::optional<Bytes>();
  if (rv != CKR_OK) return ckError("C_GetAttributeValue", rv);
  b.resize(a.ulValueLen);
  return std::optional<Bytes>(std::move(b));
}

ObjectIdentity readIdentity(Cryptoki& ck, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o) {
  ObjectIdentity out;
  uint8_t id[64];
  CK_ULONG cls = 0;
  CK_BBOOL onToken = CK_FALSE;
  CK_ATTRIBUTE a[] = {{CKA_ID, id, sizeof id}, {CKA_CLASS, &cls, sizeof cls}, {CKA_TOKEN, &onToken, sizeof onToken}};
  out.rv = ck.getAttributeValue(s, o, a);
  if (out.rv != CKR_OK && !partial(out.rv) && out.rv != CKR_BUFFER_TOO_SMALL) return out;
  if (a[0].ulValueLen != CK_UNAVAILABLE_INFORMATION && a[0].ulValueLen <= sizeof id) {
    out.id = Bytes(id, id + a[0].ulValueLen);
  } else if (out.rv == CKR_BUFFER_TOO_SMALL) {
    auto longer = readBytes(ck, s, o, CKA_ID);
    if (longer.ok()) out.id = *longer;
  }
  if (a[1].ulValueLen == sizeof cls) out.objectClass = cls;
  out.onToken = a[2].ulValueLen == sizeof onToken && onToken == CK_TRUE;
  if (out.rv == CKR_BUFFER_TOO_SMALL) out.rv = CKR_OK;
  return out;
}

}  // namespace keygate::backends::pkcs11
