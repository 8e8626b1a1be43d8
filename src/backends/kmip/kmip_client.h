#pragma once
// A KMIP 1.2 client: one request, one batch item, one response, over a Transport (TLS in
// production, a fake in unit tests). Connections are pooled: a call takes an idle one or
// opens a new one, and gives it back when the exchange succeeded.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/kmip/tags.h"
#include "backends/kmip/ttlv.h"
#include "common/result.h"

namespace keygate::backends::kmip {

// One request/response exchange on an open connection. Errors: Unavailable (I/O, closed
// connection, timeout) or InvalidArgument (the peer sent something that is not KMIP).
class Transport {
 public:
  virtual ~Transport() = default;
  virtual Result<std::string> exchange(const std::string& request) = 0;
};
using TransportPtr = std::unique_ptr<Transport>;
using TransportFactory = std::function<Result<TransportPtr>()>;

// The Request Message for one operation (exposed for tests). Protocol 1.2 unless a call
// needs a later field (AES-GCM's additional data and tag are KMIP 1.4).
Item requestMessage(Operation op, Item payload, int protocolMinor = 2);

// The Response Payload of a Response Message for `op` (an empty structure when the server
// sent none). A failed operation becomes an Error whose code follows the Result Reason
// (Item Not Found → NotFound, Permission Denied → PermissionDenied, Invalid Field and
// friends → InvalidArgument, Illegal Operation / Wrong Key Lifecycle State →
// FailedPrecondition, Operation/Feature Not Supported → Unimplemented, else Internal) and
// whose message carries the server's Result Message.
Result<Item> responsePayload(const Item& response, Operation op);

class KmipClient {
 public:
  explicit KmipClient(TransportFactory connect, size_t maxIdle = 4);

  // Sends `payload` as one `op` request. A pooled connection that fails before any answer
  // (the server closed it while idle) is replaced and the request sent once more, unless
  // `idempotent` is false (Create: a retry could make a second object).
  Result<Item> call(Operation op, Item payload, bool idempotent = true, int protocolMinor = 2);

 private:
  Result<std::string> exchangeOn(TransportPtr& conn, const std::string& request);

  TransportFactory connect_;
  size_t maxIdle_;
  std::mutex mu_;
  std::vector<TransportPtr> idle_;
};

// TLS transport: TLS 1.2 or later, the server verified against `caFile` and `host`, a client
// certificate when `certFile`/`keyFile` are set (KMIP servers usually require one).
struct TlsOptions {
  std::string host;
  int port = 5696;
  std::string caFile;
  std::string certFile;
  std::string keyFile;
  std::chrono::milliseconds timeout{10000};
  size_t maxMessageBytes = 4 << 20;
};

// Loads the CA and the client certificate once (InvalidArgument naming the file when one
// cannot be read or the key does not match), then makes connections on demand.
Result<TransportFactory> tlsConnector(const TlsOptions& options);

}  // namespace keygate::backends::kmip
