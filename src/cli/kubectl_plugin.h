#pragma once
// kubectl-keygate: the keygate binary run under that name (a symlink on PATH, so that
// `kubectl keygate ...` finds it) is the people's tool for activation requests:
//   request KEY --reason R [--change-ref C] [--affected S]... [--version N] [--name NAME]
//   approve REQUEST [--comment C]      deny REQUEST --comment C
//   status KEY|REQUEST                 pending
//   rotate KEY   deactivate KEY   compromise KEY --reason R   schedule-destruction KEY   cancel-destruction KEY
//   wrap KEY --material FILE (BYOK, the tenant's side: cli/wrap_command.h)
// with kubectl's --kubeconfig, --context and -n/--namespace (default: the context's). Approve
// and deny append to spec.approvals with a JSON patch, as `kubectl patch --type=json` does; the
// admission webhook stamps who, when and the signature. The key commands (KeyAdministrator)
// merge-patch the spec field behind the transition; the webhook stamps who asked. A refusal is one line on stderr
// (`error: <the webhook's reason>`) and exit 1. The commands that change objects take kubectl's
// -o name|json|yaml and --dry-run=server (validated and admitted, nothing stored).

namespace keygate::cli {

// argv[0]'s base name is "kubectl-keygate".
bool invokedAsKubectlPlugin(const char* argv0);
int runKubectlPlugin(int argc, char** argv);

}  // namespace keygate::cli
