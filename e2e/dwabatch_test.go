package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dwaBatchSteps are the steps e2e/node/dwabatch.mjs must report, all ok.
var dwaBatchSteps = []string{"changeset_content_id", "changeset_rollback", "continue_on_error", "impersonation", "gets_only"}

// TestDynamicsWebApiBatch runs e2e/node/dwabatch.mjs: unmodified
// dynamics-web-api (pinned in e2e/node/package.json) batches through
// startBatch/executeBatch against the stack, with tokens from unmodified
// @azure/msal-node — a change set with Content-ID references, a rolled
// back change set, continue-on-error, impersonation of a whole batch and a
// batch of GETs.
//
// Needs node and `npm ci --prefix e2e/node` (.ci/run does both). Without
// them the test skips, except under CI=true, where it fails.
func TestDynamicsWebApiBatch(t *testing.T) {
	node := msalNodeOrSkip(t)
	if _, err := os.Stat(filepath.Join("node", "node_modules", "dynamics-web-api", "package.json")); errors.Is(err, os.ErrNotExist) {
		if os.Getenv("CI") == "true" {
			t.Fatal("e2e/node/node_modules has no dynamics-web-api; CI=true requires it (.ci/run installs it)")
		}
		t.Skip("e2e/node/node_modules has no dynamics-web-api; run `npm ci --prefix e2e/node` (see .ci/run)")
	}
	ts := start(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("e2e", "node", "dwabatch.mjs"), filepath.Join(ts.dir, "stack.json"))
	cmd.Dir = ".." // the repository root, as the command is documented
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+ts.Info.CAFile)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	logs := ts.logs.String()
	if len(logs) > 8000 {
		logs = logs[len(logs)-8000:]
	}
	if err != nil {
		t.Fatalf("node dwabatch.mjs: %v\nstderr:\n%s\nreport:\n%s\nstack log (tail):\n%s", err, stderr.String(), out, logs)
	}
	var rep struct {
		OK     bool     `json:"ok"`
		Failed []string `json:"failed"`
		Steps  []struct {
			Name  string          `json:"name"`
			OK    bool            `json:"ok"`
			Error json.RawMessage `json:"error"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("dwabatch.mjs output is not JSON: %v\n%s", err, out)
	}
	got := map[string]bool{}
	for _, s := range rep.Steps {
		got[s.Name] = true
		if !s.OK {
			t.Errorf("step %s failed: %s", s.Name, s.Error)
		}
	}
	for _, name := range dwaBatchSteps {
		if !got[name] {
			t.Errorf("dwabatch.mjs reported no step %q", name)
		}
	}
	if !rep.OK {
		t.Errorf("report ok = false, failed: %v", rep.Failed)
	}
}
