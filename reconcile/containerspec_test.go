package reconcile

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/blkiodev"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/go-connections/nat"

	"github.com/drover/drover/compose"
)

func TestCreateRequest(t *testing.T) {
	p := load(t, `
services:
  web:
    image: drover-hello:v1
    command: ["-x"]
    environment: {B: "2", A: "1", UNSET: null}
    ports: ["127.0.0.1:8080:80", "9090:90/udp"]
    expose: ["81"]
    volumes:
      - data:/data:ro
      - /tmp/host:/host
      - type: tmpfs
        target: /cache
      - /anon
    tmpfs: ["/run:size=1m"]
    networks:
      default:
      back: {aliases: [www]}
    labels: {team: core}
    restart: on-failure:3
    healthcheck:
      test: ["CMD", "/hello", "-probe", "http://127.0.0.1/healthz"]
      interval: 2s
      retries: 5
      start_interval: 1s
    stop_grace_period: 20s
    cpus: 0.5
    mem_limit: 64m
    ulimits: {nofile: {soft: 10, hard: 20}, nproc: 30}
    extra_hosts: ["gw:10.0.0.1"]
    init: true
volumes:
  data: {}
networks:
  back: {}
`, "")
	svc, _ := p.Service("web")
	req, warnings, err := newCreateRequest(specInput{project: p, service: svc, number: 2, revision: 3, apiVersion: "1.41"})
	if err != nil {
		t.Fatal(err)
	}
	check := checker(t)
	c, h := req.Config, req.HostConfig
	check("name", req.Name, "demo-web-2")
	check("env", c.Env, []string{"A=1", "B=2"})
	check("cmd", []string(c.Cmd), []string{"-x"})
	check("labels", []string{c.Labels["team"], c.Labels[LabelProject], c.Labels[LabelService], c.Labels[LabelNumber], c.Labels[LabelRevision], c.Labels[LabelConfigHash], c.Labels[LabelOneOff]},
		[]string{"core", "demo", "web", "2", "3", svc.Hash, "False"})
	check("spec label", c.Labels[LabelSpec], string(svc.Spec))
	check("exposed", c.ExposedPorts, nat.PortSet{"80/tcp": {}, "90/udp": {}, "81/tcp": {}})
	check("bindings", h.PortBindings, nat.PortMap{
		"80/tcp": {{HostIP: "127.0.0.1", HostPort: "8080"}},
		"90/udp": {{HostIP: "", HostPort: "9090"}},
	})
	check("binds", h.Binds, []string{"/tmp/host:/host"})
	check("mounts", h.Mounts, []mount.Mount{
		{Type: mount.TypeVolume, Source: "demo_data", Target: "/data", ReadOnly: true, VolumeOptions: &mount.VolumeOptions{}},
		{Type: mount.TypeTmpfs, Target: "/cache"},
		{Type: mount.TypeVolume, Target: "/anon", VolumeOptions: &mount.VolumeOptions{}},
	})
	check("tmpfs", h.Tmpfs, map[string]string{"/run": "size=1m"})
	check("restart", h.RestartPolicy, container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3})
	check("health test", c.Healthcheck.Test, []string{"CMD", "/hello", "-probe", "http://127.0.0.1/healthz"})
	check("health interval", c.Healthcheck.Interval, 2*time.Second)
	check("health retries", c.Healthcheck.Retries, 5)
	check("start interval dropped", c.Healthcheck.StartInterval, time.Duration(0))
	if len(warnings) != 1 || !strings.Contains(warnings[0], "start_interval needs engine API 1.44") {
		t.Errorf("warnings %q, want one about start_interval", warnings)
	}
	check("stop timeout", *c.StopTimeout, 20)
	check("cpus", h.NanoCPUs, int64(5e8))
	check("memory", h.Memory, int64(64<<20))
	check("ulimits", len(h.Ulimits), 2)
	check("nproc single", []int64{h.Ulimits[1].Soft, h.Ulimits[1].Hard}, []int64{30, 30})
	check("extra hosts", h.ExtraHosts, []string{"gw:10.0.0.1"})
	check("init", *h.Init, true)
	check("network mode", string(h.NetworkMode), "demo_back")
	check("first network", req.Networking.EndpointsConfig["demo_back"].Aliases, []string{"web", "www", "demo-web-2-r3"})
	check("second network", req.ExtraNetworks["demo_default"].Aliases, []string{"web", "demo-web-2-r3"})

	newer, warnings, _ := newCreateRequest(specInput{project: p, service: svc, number: 1, revision: 1, apiVersion: "1.44"})
	check("start interval on 1.44", newer.Config.Healthcheck.StartInterval, time.Second)
	check("no warning on 1.44", len(warnings), 0)
}

// TestCreateRequestVocabulary checks that each engine setting of the
// Compose vocabulary reaches the create request, as docker compose v2 sends
// it (pkg/compose/create.go).
func TestCreateRequestVocabulary(t *testing.T) {
	p := load(t, `
services:
  db:
    image: drover-hello:v1
  web:
    image: drover-hello:v1
    pid: service:db
    ipc: host
    links: ["db:database"]
    uts: host
    userns_mode: host
    cgroup: private
    cgroup_parent: drover.slice
    mac_address: "02:42:ac:11:00:42"
    group_add: ["audio", "1234"]
    devices: ["/dev/null:/dev/xnull:r", "vendor.com/gpu=all"]
    device_cgroup_rules: ["c 1:3 mr"]
    oom_score_adj: -500
    oom_kill_disable: true
    mem_swappiness: 10
    storage_opt: {size: 1G}
    cpu_rt_period: 1000
    cpu_rt_runtime: 500
    stop_signal: SIGUSR1
    volume_driver: local
    annotations: {com.example.a: b}
    label_file: [./labels.env]
    blkio_config:
      weight: 300
      weight_device: [{path: /dev/sda, weight: 400}]
      device_read_bps: [{path: /dev/sda, rate: 1mb}]
      device_write_iops: [{path: /dev/sda, rate: 30}]
    volumes:
      - type: bind
        source: /tmp
        target: /shared
        bind: {propagation: rshared, selinux: z}
      - type: bind
        source: /tmp
        target: /strict
        read_only: true
        bind: {create_host_path: false, recursive: disabled}
      - type: volume
        source: data
        target: /data
        volume: {nocopy: true}
      - type: tmpfs
        target: /scratch
        tmpfs: {size: 1m, mode: 0o1777}
volumes:
  data: {}
`, "", map[string]string{"labels.env": "FROM_FILE=yes\n"})
	svc, _ := p.Service("web")
	req, warnings, err := newCreateRequest(specInput{project: p, service: svc, number: 1, revision: 1, apiVersion: "1.41"})
	if err != nil {
		t.Fatal(err)
	}
	check := checker(t)
	c, h := req.Config, req.HostConfig
	check("pid", h.PidMode, container.PidMode("container:demo-db-1"))
	check("ipc", h.IpcMode, container.IpcMode("host"))
	check("links (v2 layout)", req.Networking.EndpointsConfig["demo_default"].Links, []string{"demo-db-1:database"})
	check("uts", h.UTSMode, container.UTSMode("host"))
	check("userns", h.UsernsMode, container.UsernsMode("host"))
	check("cgroup", h.CgroupnsMode, container.CgroupnsMode("private"))
	check("cgroup_parent", h.CgroupParent, "drover.slice")
	check("mac", c.MacAddress, "02:42:ac:11:00:42")
	check("group_add", h.GroupAdd, []string{"audio", "1234"})
	check("devices", h.Devices, []container.DeviceMapping{{PathOnHost: "/dev/null", PathInContainer: "/dev/xnull", CgroupPermissions: "r"}})
	check("cdi", h.DeviceRequests, []container.DeviceRequest{{Driver: "cdi", DeviceIDs: []string{"vendor.com/gpu=all"}}})
	check("device rules", h.DeviceCgroupRules, []string{"c 1:3 mr"})
	check("oom_score_adj", h.OomScoreAdj, -500)
	check("oom_kill_disable", *h.OomKillDisable, true)
	check("swappiness", *h.MemorySwappiness, int64(10))
	check("storage_opt", h.StorageOpt, map[string]string{"size": "1G"})
	check("rt", []int64{h.CPURealtimePeriod, h.CPURealtimeRuntime}, []int64{1000, 500})
	check("stop_signal", c.StopSignal, "SIGUSR1")
	check("volume_driver", h.VolumeDriver, "local")
	check("label from label_file", c.Labels["FROM_FILE"], "yes")
	check("blkio weight", h.BlkioWeight, uint16(300))
	check("blkio weight device", *h.BlkioWeightDevice[0], blkiodev.WeightDevice{Path: "/dev/sda", Weight: 400})
	check("blkio read bps", *h.BlkioDeviceReadBps[0], blkiodev.ThrottleDevice{Path: "/dev/sda", Rate: 1 << 20})
	check("blkio write iops", *h.BlkioDeviceWriteIOps[0], blkiodev.ThrottleDevice{Path: "/dev/sda", Rate: 30})
	check("binds", h.Binds, []string{"/tmp:/shared:z,rshared"})
	check("mounts", h.Mounts, []mount.Mount{
		{Type: mount.TypeBind, Source: "/tmp", Target: "/strict", ReadOnly: true, BindOptions: &mount.BindOptions{NonRecursive: true}},
		{Type: mount.TypeVolume, Source: "demo_data", Target: "/data", VolumeOptions: &mount.VolumeOptions{NoCopy: true}},
		{Type: mount.TypeTmpfs, Target: "/scratch", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o1777}},
	})
	check("annotations left out on 1.41", h.Annotations, map[string]string(nil))
	if len(warnings) != 1 || !strings.Contains(warnings[0], "annotations need engine API 1.43") {
		t.Errorf("warnings %q, want one about annotations", warnings)
	}
	newer, _, _ := newCreateRequest(specInput{project: p, service: svc, number: 1, revision: 1, apiVersion: "1.43"})
	check("annotations on 1.43", newer.HostConfig.Annotations, map[string]string{"com.example.a": "b"})
}

// TestCreateRequestRefusesWhatTheEngineLacks: options an API 1.41 engine
// would silently ignore are refused while planning, before any change.
func TestCreateRequestRefusesWhatTheEngineLacks(t *testing.T) {
	cases := []struct{ name, volume, want string }{
		{"subpath", "{type: volume, source: data, target: /d, volume: {subpath: sub}}", "volume.subpath needs engine API 1.45"},
		{"recursive readonly", "{type: bind, source: /tmp, target: /t, read_only: true, bind: {recursive: readonly}}", `bind.recursive "readonly" needs engine API 1.44`},
		{"image", "{type: image, source: drover-hello:v1, target: /i}", "type image needs engine API 1.48"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := load(t, "services:\n  web:\n    image: drover-hello:v1\n    volumes:\n      - "+tc.volume+"\nvolumes:\n  data: {}\n", "")
			svc, _ := p.Service("web")
			_, _, err := newCreateRequest(specInput{project: p, service: svc, number: 1, revision: 1, apiVersion: "1.41"})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `service "web"`) {
				t.Errorf("error %v, want one naming the service and %q", err, tc.want)
			}
		})
	}
}

// TestVocabularyChangesAreUpgrades: setting each key changes the service's
// hash (so up reports it out of sync) and diff names the key.
func TestVocabularyChangesAreUpgrades(t *testing.T) {
	base := "services:\n  web:\n    image: drover-hello:v1\n"
	cases := map[string]string{
		"pid": "pid: host", "ipc": "ipc: shareable", "uts": "uts: host", "userns_mode": "userns_mode: host",
		"cgroup": "cgroup: host", "cgroup_parent": "cgroup_parent: x.slice", "mac_address": "mac_address: 02:42:ac:11:00:42",
		"group_add": "group_add: [audio]", "devices": "devices: ['/dev/null:/dev/xnull']",
		"device_cgroup_rules": "device_cgroup_rules: ['c 1:3 mr']", "oom_score_adj": "oom_score_adj: 100",
		"oom_kill_disable": "oom_kill_disable: true", "mem_swappiness": "mem_swappiness: 5",
		"storage_opt": "storage_opt: {size: 1G}", "blkio_config": "blkio_config: {weight: 300}",
		"cpu_rt_period": "cpu_rt_period: 1000", "cpu_rt_runtime": "cpu_rt_runtime: 500",
		"stop_signal": "stop_signal: SIGUSR1", "annotations": "annotations: {a: b}",
		"volume_driver": "volume_driver: local", "gpus": "gpus: all",
		"volumes": "volumes: [{type: bind, source: /tmp, target: /t, bind: {propagation: rshared}}]",
	}
	p0 := load(t, base, "")
	web0, _ := p0.Service("web")
	for key, line := range cases {
		t.Run(key, func(t *testing.T) {
			p := load(t, base+"    "+line+"\n", "")
			web, _ := p.Service("web")
			if web.Hash == web0.Hash {
				t.Errorf("%s: hash unchanged", line)
			}
			var keys []string
			for _, c := range DiffSpecs(web0.Spec, web.Spec) {
				keys = append(keys, c.Key)
			}
			if len(keys) != 1 || keys[0] != key {
				t.Errorf("%s: diff keys %v, want [%s]", line, keys, key)
			}
		})
	}
}

// checker returns a function that reports a field of a create request that
// is not what a test wants.
func checker(t *testing.T) func(what string, got, want any) {
	return func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
}

// TestCreateRequestConfigs: a file: config is bind-mounted read-only, the
// others are copied in (mode 0444 unless given), short and long syntax;
// their content is in the hash and diff names the config, masked.
func TestCreateRequestConfigs(t *testing.T) {
	t.Setenv("APP_TOKEN", "from-env")
	files := map[string]string{"app.conf": "port=80\n"}
	text := `
services:
  web:
    image: drover-hello:v1
    configs:
      - app
      - source: inline
        target: /etc/inline.txt
        uid: "1000"
        gid: "1001"
        mode: 0440
      - source: token
        target: token.txt
configs:
  app:
    file: ./app.conf
  inline:
    content: CONTENT
  token:
    environment: APP_TOKEN
`
	p := load(t, strings.Replace(text, "CONTENT", "v1", 1), "", files)
	svc, _ := p.Service("web")
	req, _, err := newCreateRequest(specInput{project: p, service: svc, number: 1, revision: 1, apiVersion: "1.41"})
	if err != nil {
		t.Fatal(err)
	}
	check := checker(t)
	check("mounts", req.HostConfig.Mounts, []mount.Mount{{Type: mount.TypeBind, Source: filepath.Join(p.WorkingDir, "app.conf"), Target: "/app", ReadOnly: true}})
	check("files", req.Files, []FileCopy{
		{Path: "/etc/inline.txt", Content: []byte("v1"), UID: "1000", GID: "1001", Mode: 0o440},
		{Path: "/token.txt", Content: []byte("from-env"), Mode: 0o444},
	})
	if strings.Contains(req.Config.Labels[LabelSpec], "from-env") || strings.Contains(req.Config.Labels[LabelSpec], `"v1"`) {
		t.Errorf("a config's content is in the spec label: %s", req.Config.Labels[LabelSpec])
	}

	changes := func(p2 *compose.Project) []Change {
		t.Helper()
		svc2, _ := p2.Service("web")
		if svc2.Hash == svc.Hash {
			t.Error("hash unchanged")
		}
		return DiffSpecs(svc.Spec, svc2.Spec)
	}
	for name, p2 := range map[string]*compose.Project{
		"content": load(t, strings.Replace(text, "CONTENT", "v2", 1), "", files),
		"file":    load(t, strings.Replace(text, "CONTENT", "v1", 1), "", map[string]string{"app.conf": "port=81\n"}),
		"environment": func() *compose.Project {
			t.Setenv("APP_TOKEN", "other")
			return load(t, strings.Replace(text, "CONTENT", "v1", 1), "", files)
		}(),
	} {
		cs := changes(p2)
		want := map[string]string{"content": "config_content.inline", "file": "config_content.app", "environment": "config_content.token"}[name]
		if len(cs) != 1 || cs[0].Key != want || !cs[0].Secret || cs[0].Summary() != want+" changed" {
			t.Errorf("%s: changes %+v, want one secret change of %s", name, cs, want)
		}
	}
}

// TestCreateRequestEnvironmentSecrets: a secret of environment: is copied
// under /run/secrets (a file: one stays bind-mounted); its content is in
// the hash and diff names it, masked.
func TestCreateRequestEnvironmentSecrets(t *testing.T) {
	text := `
services:
  web:
    image: drover-hello:v1
    secrets: [api_key, {source: db_pass, target: db.txt, mode: 0400}]
secrets:
  api_key:
    environment: API_KEY
  db_pass:
    file: ./db_pass
`
	files := map[string]string{"db_pass": "s3cret"}
	t.Setenv("API_KEY", "k1")
	p := load(t, text, "", files)
	svc, _ := p.Service("web")
	req, _, err := newCreateRequest(specInput{project: p, service: svc, number: 1, revision: 1, apiVersion: "1.41"})
	if err != nil {
		t.Fatal(err)
	}
	check := checker(t)
	check("files", req.Files, []FileCopy{{Path: "/run/secrets/api_key", Content: []byte("k1"), Mode: 0o444}})
	check("mounts", req.HostConfig.Mounts, []mount.Mount{{Type: mount.TypeBind, Source: filepath.Join(p.WorkingDir, "db_pass"), Target: "/run/secrets/db.txt", ReadOnly: true}})
	if strings.Contains(req.Config.Labels[LabelSpec], "k1") {
		t.Errorf("the secret is in the spec label: %s", req.Config.Labels[LabelSpec])
	}
	t.Setenv("API_KEY", "k2")
	svc2, _ := load(t, text, "", files).Service("web")
	cs := DiffSpecs(svc.Spec, svc2.Spec)
	if svc2.Hash == svc.Hash || len(cs) != 1 || cs[0].Key != "secret_content.api_key" || !cs[0].Secret {
		t.Errorf("hash changed %v, changes %+v, want one secret change of secret_content.api_key", svc2.Hash != svc.Hash, cs)
	}
}
