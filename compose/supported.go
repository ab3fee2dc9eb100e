package compose

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// appliedKeys are the service keys drover turns into container settings (or
// acts on, like depends_on and scale). Any other key set in a file is an
// error: drover never silently ignores what a user asked for.
var appliedKeys = map[string]bool{
	"image": true, "build": true, "command": true, "entrypoint": true,
	"environment": true, "env_file": true, "ports": true, "expose": true,
	"volumes": true, "networks": true, "labels": true, "restart": true,
	"healthcheck": true, "working_dir": true, "user": true, "hostname": true,
	"domainname": true, "container_name": true, "cap_add": true, "cap_drop": true,
	"privileged": true, "read_only": true, "init": true, "stop_signal": true,
	"stop_grace_period": true, "ulimits": true, "extra_hosts": true, "dns": true,
	"dns_search": true, "dns_opt": true, "logging": true, "cpus": true,
	"cpu_shares": true, "cpu_quota": true, "cpu_period": true, "cpuset": true,
	"mem_limit": true, "mem_reservation": true, "memswap_limit": true,
	"pids_limit": true, "tmpfs": true, "stdin_open": true, "tty": true,
	"sysctls": true, "security_opt": true, "shm_size": true, "network_mode": true,
	"depends_on": true, "profiles": true, "scale": true, "deploy": true,
	"pull_policy": true, "links": true, "external_links": true,
	"volumes_from": true, "secrets": true, "platform": true, "runtime": true,
	// The rest of what docker compose v2 passes to the engine's create
	// call (pkg/compose/create.go); see README's key table.
	"annotations": true, "blkio_config": true, "cgroup": true,
	"cgroup_parent": true, "cpu_count": true, "cpu_percent": true,
	"cpu_rt_period": true, "cpu_rt_runtime": true, "device_cgroup_rules": true,
	"devices": true, "gpus": true, "group_add": true, "ipc": true,
	"isolation": true, "label_file": true, "mac_address": true,
	"mem_swappiness": true, "oom_kill_disable": true, "oom_score_adj": true,
	"pid": true, "storage_opt": true, "userns_mode": true, "uts": true,
	"volume_driver": true, "configs": true,
	// Accepted with a note of what they do here (notedKeys).
	"attach": true, "develop": true,
	// Lifecycle hooks, run through the exec API (reconcile/hooks.go).
	"post_start": true, "pre_stop": true,
}

// appliedDeployKeys are the deploy: keys that mean something on a single
// engine; swarm placement and the like do not.
var appliedDeployKeys = map[string]bool{
	"replicas": true, "resources": true, "update_config": true,
	"rollback_config": true, "restart_policy": true, "mode": true, "labels": true,
}

// swarmDeployKeys are the deploy: keys that only Docker Swarm applies.
var swarmDeployKeys = map[string]bool{"placement": true, "endpoint_mode": true}

// unsupportedKeys returns the keys set on a service that drover does not
// apply, sorted. For a swarm, the keys only a swarm applies are let
// through here; the swarm package refuses what it does not map.
func unsupportedKeys(cfg types.ServiceConfig, swarm bool) ([]string, error) {
	// build is applied as a whole; its ssh keys do not marshal to JSON
	// (compose-go's SSHKey writes "id": path).
	cfg.Build = nil
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	var bad []string
	for k, v := range m {
		if appliedKeys[k] || isEmptyJSON(v) || swarm && k == "configs" {
			continue
		}
		bad = append(bad, k)
	}
	if d := cfg.Deploy; d != nil {
		dm := map[string]json.RawMessage{}
		data, _ := json.Marshal(d)
		_ = json.Unmarshal(data, &dm)
		for k, v := range dm {
			if !appliedDeployKeys[k] && !(swarm && swarmDeployKeys[k]) && !isEmptyJSON(v) {
				bad = append(bad, "deploy."+k)
			}
		}
		if d.Mode != "" && d.Mode != "replicated" && !(swarm && d.Mode == "global") {
			bad = append(bad, "deploy.mode: "+d.Mode)
		}
	}
	sort.Strings(bad)
	return bad, nil
}

func isEmptyJSON(v json.RawMessage) bool {
	switch string(v) {
	case "null", "{}", "[]", `""`, "0", "false":
		return true
	}
	return false
}

// unsupportedError refuses the keys drover does not apply, at the line of
// the first of them in the files.
func unsupportedError(service string, keys []string, srcs sources) error {
	msg := fmt.Sprintf("keys %q are not supported by drover yet; remove them or run this service with docker compose", keys)
	if len(keys) == 1 {
		msg = fmt.Sprintf("key %q is not supported by drover yet; remove it or run this service with docker compose", keys[0])
	}
	var first match
	for _, k := range keys {
		path, _, _ := strings.Cut(k, ":") // "deploy.mode: global"
		m := srcs.locate("services."+service+"."+path, "")
		if m.complete && (first.line == 0 || m.line < first.line) {
			first = m
		}
	}
	if first.file == "" {
		return srcs.at(service, "", msg)
	}
	return errorAt(first.file, first.line, []string{"services", service}, msg)
}
