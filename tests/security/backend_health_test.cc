// Security finding 7 (issue 16): health that tells the truth. (In the security suite, with
// the operator binary as a process.)
//
// keygate_backend_up used to be set to 1 once at start, so KeygateBackendDown could never
// fire. Now each backend is probed every health.backendProbeInterval. Here: the operator
// binary with a SoftHSM2 backend and a real PyKMIP server; the KMIP server is stopped (the
// metric drops) and started again (it recovers); the SoftHSM2 token directory is taken away
// (the module fails; SoftHSM2 keeps a token it lost invalid until the module is loaded again,
// so it recovers on the operator's restart). The samples scraped each second become a
// promtool rules test, at one sample per minute, against the chart's own alert rules:
// KeygateBackendDown fires for the down stretch and is gone after recovery. The watch-restart
// counter is checked with dropped watches, and the webhook readiness check.
#include <fstream>
#include <regex>

#include "e2e/operator/operator_process.h"
#include "support/pykmip_server.h"

namespace keygate {
namespace {

using namespace e2e;
using metrics::testing::httpGet;

// keygate_backend_up{backend="<b>"} from one scrape; -1 when absent.
int backendUp(const std::string& scrape, const std::string& backend) {
  std::smatch m;
  std::regex re("keygate_backend_up\\{backend=\"" + backend + "\"\\} ([0-9.]+)");
  if (!std::regex_search(scrape, m, re)) return -1;
  return static_cast<int>(std::stod(m[1]));
}

double counterSum(const std::string& scrape, const std::string& name) {
  double sum = 0;
  std::regex re(name + "\\{[^}]*\\} ([0-9.e+]+)");
  for (auto it = std::sregex_iterator(scrape.begin(), scrape.end(), re); it != std::sregex_iterator(); ++it)
    sum += std::stod((*it)[1]);
  return sum;
}

struct Samples {
  std::vector<int> kmip, softhsm;
};

class BackendHealthE2E : public OperatorE2E {
 protected:
  std::string scrape(int port) { return httpGet(port, "/metrics").body; }

  // Samples once a second until `done` holds for the latest sample, then `extra` more.
  bool sampleUntil(int port, Samples& s, const std::function<bool(int kmip, int softhsm)>& done, int extra,
                   std::chrono::seconds timeout = std::chrono::seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int after = -1;
    while (std::chrono::steady_clock::now() < deadline) {
      std::string text = scrape(port);
      s.kmip.push_back(backendUp(text, "kmip"));
      s.softhsm.push_back(backendUp(text, "softhsm"));
      if (after < 0 && done(s.kmip.back(), s.softhsm.back())) after = 0;
      if (after >= 0 && after++ >= extra) return true;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    return false;
  }
};

std::string seriesValues(const std::vector<int>& v) {
  std::string out;
  for (int x : v) out += (out.empty() ? "" : " ") + std::to_string(x < 0 ? 0 : x);
  return out;
}

TEST_F(BackendHealthE2E, BackendUpFollowsTheBackendsAndTheAlertFires) {
  auto kmip = testing::PyKmipServer::start();
  ASSERT_TRUE(kmip.ok()) << kmip.error().toString();
  auto cert = (*kmip)->clientCert("keygate");
  ASSERT_TRUE(cert.ok()) << cert.error().toString();
  const std::string kmipBackend = "- name: kmip\n  type: kmip\n  endpoint: 127.0.0.1:" + std::to_string((*kmip)->port()) +
                                  "\n  tls: {caFile: " + (*kmip)->caFile() + ", certFile: " + cert->certFile +
                                  ", keyFile: " + cert->keyFile + "}\n";
  StartedOperator op = startOperatorWithWebhooks(*server_, *admin_, dir_, "", kmipBackend, ", backendProbeInterval: 1s");
  ASSERT_TRUE(op.ready);
  EXPECT_EQ(httpGet(op.healthPort, "/readyz?verbose").status, 200);
  EXPECT_NE(httpGet(op.healthPort, "/readyz?verbose").body.find("webhook ok"), std::string::npos)
      << httpGet(op.healthPort, "/readyz?verbose").body;

  // A SoftHSM2 token in use (the probe logs in to every token the backend holds).
  auto k = admin_->create(kube::resources::encryptionKeys(), "tenant-a",
                          keygateObject("EncryptionKey", "k1",
                                        {{"purpose", "Encrypt"}, {"algorithm", "AES-256"}, {"backend", "softhsm"}}));
  ASSERT_TRUE(k.ok()) << k.error().toString();
  ASSERT_TRUE(waitUntil([&] {
    auto got = admin_->get(kube::resources::encryptionKeys(), "tenant-a", "k1");
    return got.ok() && getString(*got, "status.state") == "PreActive";
  })) << readAll(op.proc.log);

  Samples s;
  ASSERT_TRUE(sampleUntil(op.metricsPort, s, [](int km, int sh) { return km == 1 && sh == 1; }, 2))
      << scrape(op.metricsPort);

  // The KMIP server goes away: the metric drops within a few probe rounds and stays down.
  (*kmip)->stop();
  ASSERT_TRUE(sampleUntil(op.metricsPort, s, [](int km, int) { return km == 0; }, 7)) << readAll(op.proc.log);
  EXPECT_EQ(s.softhsm.back(), 1) << "one backend down must not take the other down";
  // It comes back: up again within the fast re-probe period (5 s).
  ASSERT_TRUE((*kmip)->restart().ok());
  ASSERT_TRUE(sampleUntil(op.metricsPort, s, [](int km, int) { return km == 1; }, 2)) << readAll(op.proc.log);
  const size_t kmipSamples = s.kmip.size();

  // The promtool test: one scraped sample per minute, the chart's rules.
  {
    std::string helm;
    {
      FILE* p = popen((testing::sourceDir() + "/scripts/install-test-tools.sh --path 2>/dev/null").c_str(), "r");
      char buf[512];
      while (p && fgets(buf, sizeof buf, p)) helm = buf;
      if (p) pclose(p);
      while (!helm.empty() && (helm.back() == '\n' || helm.back() == ' ')) helm.pop_back();
    }
    ASSERT_FALSE(helm.empty()) << "helm: run scripts/install-test-tools.sh";
    const std::string rules = dir_.path() + "/rules.yaml";
    const std::string render = helm + " template keygate " + testing::sourceDir() +
                               "/charts/keygate --namespace keygate-system --set metrics.prometheusRule.enabled=true "
                               "--show-only templates/prometheusrule.yaml 2>/dev/null | python3 -c 'import sys,yaml; "
                               "d=yaml.safe_load(sys.stdin); yaml.safe_dump({\"groups\": d[\"spec\"][\"groups\"]}, "
                               "sys.stdout)' > " + rules;
    ASSERT_EQ(std::system(render.c_str()), 0) << render;
    size_t firstDown = 0;
    while (firstDown < s.kmip.size() && s.kmip[firstDown] != 0) ++firstDown;
    ASSERT_LT(firstDown + 6, kmipSamples) << "at least 6 down samples are needed for the 5m `for`";
    const std::string series = "keygate_backend_up{job=\"keygate-metrics\", pod=\"keygate-0\", backend=\"kmip\"}";
    std::ofstream(dir_.path() + "/backend_test.yaml")
        << "rule_files: [rules.yaml]\nevaluation_interval: 1m\ntests:\n- interval: 1m\n  input_series:\n"
        << "  - series: '" << series << "'\n    values: '" << seriesValues(s.kmip) << "'\n"
        << "  alert_rule_test:\n"
        << "  - {eval_time: " << firstDown + 6 << "m, alertname: KeygateBackendDown, exp_alerts: [{exp_labels: "
        << "{severity: critical, job: keygate-metrics, pod: keygate-0, backend: kmip}, exp_annotations: {summary: "
           "'Key backend kmip is failing', description: 'The periodic probe of backend kmip has failed for 5 minutes "
           "(pod keygate-0).'}}]}\n"
        << "  - {eval_time: " << firstDown - 1 << "m, alertname: KeygateBackendDown, exp_alerts: []}\n"
        << "  - {eval_time: " << kmipSamples - 1 << "m, alertname: KeygateBackendDown, exp_alerts: []}\n";
    const std::string cmd = "cd " + dir_.path() + " && promtool test rules backend_test.yaml > promtool.out 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << readAll(dir_.path() + "/promtool.out") << "\nseries: " << seriesValues(s.kmip);
  }

  // The PKCS#11 module fails: SoftHSM2 loses the token directory.
  const std::string tokens = dir_.path() + "/state/softhsm2/tokens";
  ASSERT_TRUE(std::filesystem::exists(tokens));
  std::filesystem::rename(tokens, tokens + ".away");
  ASSERT_TRUE(sampleUntil(op.metricsPort, s, [](int, int sh) { return sh == 0; }, 1)) << readAll(op.proc.log);
  EXPECT_EQ(s.kmip.back(), 1);
  std::filesystem::rename(tokens + ".away", tokens);

  stopOperator(op);

  // Restarted with the directory back, the module loads the token again: up.
  op.proc = spawn({KEYGATE_BINARY, "operator", "--config", dir_.path() + "/config.yaml", "--kubeconfig",
                   server_->writeKubeconfig(kOperatorUser), "--pod-name", "keygate-0"},
                  dir_.path() + "/operator-2.log");
  Samples after;
  EXPECT_TRUE(sampleUntil(op.metricsPort, after, [](int km, int sh) { return km == 1 && sh == 1; }, 0))
      << readAll(dir_.path() + "/operator-2.log");
  stopOperator(op);
}

// The informers' watches end (here: the API server closes them with a fault) and are
// re-established: keygate_watch_restarts_total counts them per resource.
TEST_F(BackendHealthE2E, WatchRestartsAreCounted) {
  StartedOperator op = startOperatorWithWebhooks(*server_, *admin_, dir_);
  ASSERT_TRUE(op.ready) << readAll(op.proc.log);
  const double before = counterSum(scrape(op.metricsPort), "keygate_watch_restarts_total");
  // Ready means listed; a watch may open a moment later, so drop them until each informer
  // has counted a restart.
  EXPECT_TRUE(waitUntil([&] {
    auto st = server_->control("POST", "/__test/faults", {{"dropWatches", true}});
    if (!st.ok()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const std::string text = scrape(op.metricsPort);
    for (const char* r : {"encryptionkeys", "keyactivationrequests", "keyrolebindings", "namespaces"})
      if (text.find(std::string("keygate_watch_restarts_total{resource=\"") + r + "\"}") == std::string::npos) return false;
    return counterSum(text, "keygate_watch_restarts_total") >= before + 4;
  })) << scrape(op.metricsPort) << readAll(op.proc.log);
  stopOperator(op);
}

}  // namespace
}  // namespace keygate
