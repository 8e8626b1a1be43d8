#pragma once
// Whether PEM text holds what a TLS setup will need, checked up front so that a bad file is a
// configuration error naming the field rather than an opaque handshake failure later.

#include <string>

namespace keygate {

// True when `pem` holds a parsable certificate (privateKey false: the first one) or private
// key (true). Leaves no OpenSSL error behind.
bool pemHolds(const std::string& pem, bool privateKey);

}  // namespace keygate
