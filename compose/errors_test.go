package compose

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// loadFiles writes the files into a fresh directory, makes it the current
// one (so that errors name the files as a user there would see them) and
// loads them in the order given.
func loadFiles(t *testing.T, files ...[2]string) error {
	t.Helper()
	cleanEnv(t)
	dir := t.TempDir()
	t.Chdir(dir)
	var names []string
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f[0]), []byte(f[1]), 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, filepath.Join(dir, f[0]))
	}
	_, err := Load(context.Background(), Options{Files: names})
	return err
}

func TestComposeErrorsNameFileLineServiceKey(t *testing.T) {
	const web = "services:\n  web:\n    image: nginx\n"
	cases := []struct {
		name, text, want string
	}{
		{"typo in a service key", "services:\n  mon-siteweb:\n    imgae: nginx\n",
			`docker-compose.yml:3: service "mon-siteweb": unknown key "imgae" (did you mean "image"?)`},
		{"unknown key far from any", web + "    frobnicate: 1\n",
			`docker-compose.yml:4: service "web": unknown key "frobnicate"`},
		{"service name with a dot", "services:\n  web.v2:\n    image: nginx\n    imgae: x\n",
			`docker-compose.yml:4: service "web.v2": unknown key "imgae" (did you mean "image"?)`},
		{"typo in a nested key", web + "    healthcheck:\n      intreval: 5s\n",
			`docker-compose.yml:5: service "web": healthcheck: unknown key "intreval" (did you mean "interval"?)`},
		{"typo in build", web + "    build:\n      dockerfil: x\n",
			`docker-compose.yml:5: service "web": build: unknown key "dockerfil" (did you mean "dockerfile"?)`},
		{"typo in a long port", web + "    ports:\n      - target: 80\n        publishd: 8080\n",
			`docker-compose.yml:6: service "web": ports.0: unknown key "publishd" (did you mean "published"?)`},
		{"typo at the top level", web + "volums: {}\n",
			`docker-compose.yml:4: unknown top-level key "volums" (did you mean "volumes"?)`},
		{"typo of services", "servics:\n  web:\n    image: nginx\n",
			`docker-compose.yml:1: unknown top-level key "servics" (did you mean "services"?)`},
		{"key indented too little", web + "  ports:\n    - 80:80\n",
			`docker-compose.yml:4: service "ports": must be a mapping, got a list; "ports" is a key of a service: is it indented too little?`},
		{"wrong type", web + "    ports: 80\n",
			`docker-compose.yml:4: service "web": ports: must be a list, got "80"`},
		{"list for a string", "services:\n  web:\n    image: [nginx]\n",
			`docker-compose.yml:3: service "web": image: must be a string, got a list`},
		{"out of range", web + "    scale: -1\n",
			`docker-compose.yml:4: service "web": scale: must be greater than or equal to 0`},
		{"bad duration", web + "    stop_grace_period: 5x\n",
			`docker-compose.yml:4: service "web": stop_grace_period: time: unknown unit "x" in duration "5x"`},
		{"required variable", web + "    environment:\n      A: ${FOO:?must be set}\n",
			`docker-compose.yml:5: service "web": environment.A: required variable FOO is missing a value: must be set`},
		{"undefined dependency", web + "    depends_on: [dbb]\n  db:\n    image: x\n",
			`docker-compose.yml:4: service "web": depends_on: undefined service "dbb" (did you mean "db"?)`},
		{"undefined dependency on its own line", web + "    depends_on:\n      - cache\n",
			`docker-compose.yml:5: service "web": depends_on: undefined service "cache"`},
		{"undefined network", web + "    networks: [front]\n",
			`docker-compose.yml:4: service "web": networks: undefined network "front" (declare it under the top-level networks:)`},
		{"yaml syntax", web + "   bad\n",
			`docker-compose.yml:3: invalid YAML: did not find expected key`},
		{"unsupported key", web + "    use_api_socket: true\n",
			`docker-compose.yml:4: service "web": key "use_api_socket" is not supported by drover yet; remove it or run this service with docker compose`},
		{"unsupported keys", web + "    use_api_socket: true\n    credential_spec: {file: c.json}\n",
			`docker-compose.yml:4: service "web": keys ["credential_spec" "use_api_socket"] are not supported by drover yet; remove them or run this service with docker compose`},
		{"unsupported deploy key", web + "    deploy:\n      mode: global\n",
			`docker-compose.yml:5: service "web": key "deploy.mode: global" is not supported by drover yet; remove it or run this service with docker compose`},
		{"no image", "services:\n  web:\n    command: x\n",
			`docker-compose.yml:2: service "web": has neither an image nor a build context specified`},
		{"v1 layout typo", "web:\n  image: nginx\n  imgae: x\n",
			`docker-compose.yml:3: service "web": unknown key "imgae" (did you mean "image"?)`},
		{"v1 layout service not a mapping", "web: nginx\n",
			`docker-compose.yml:1: service "web": expected a mapping of keys (this file has the v1 layout: every top-level key is a service)`},
		{"v1 layout dockerfile", "web:\n  image: x\n  dockerfile: D\n",
			`docker-compose.yml:3: service "web": dockerfile: needs build: to be a path, as in the v1 layout`},
		{"v1 layout unsupported key", "web:\n  image: x\n  use_api_socket: true\n",
			`docker-compose.yml:3: service "web": key "use_api_socket" is not supported by drover yet; remove it or run this service with docker compose`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := loadFiles(t, [2]string{"docker-compose.yml", tc.text})
			if err == nil {
				t.Fatalf("loaded without error; want %s", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n got %s\nwant %s", err, tc.want)
			}
		})
	}
}

// With several files the error names the one that holds the mistake: the
// file compose-go was merging when the schema refused it, or the last file
// that sets the key.
func TestComposeErrorsNameTheRightFile(t *testing.T) {
	base := "services:\n  web:\n    image: nginx\n  db:\n    image: x\n"
	cases := []struct {
		name     string
		override string
		want     string
	}{
		{"typo in the override", "services:\n  db:\n    imgae: y\n",
			`override.yml:3: service "db": unknown key "imgae" (did you mean "image"?)`},
		{"unsupported key in the override", "services:\n  db:\n    use_api_socket: true\n",
			`override.yml:3: service "db": key "use_api_socket" is not supported by drover yet; remove it or run this service with docker compose`},
		{"undefined dependency in the override", "services:\n\n  web:\n    depends_on: [cache]\n",
			`override.yml:4: service "web": depends_on: undefined service "cache"`},
		{"yaml syntax in the override", "services:\n  web:\n   image: x\n  bad\n",
			// The YAML parser's line: where it gave up, after the bad one.
			`override.yml:5: invalid YAML: could not find expected ':'`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := loadFiles(t, [2]string{"base.yml", base}, [2]string{"override.yml", tc.override})
			if err == nil || err.Error() != tc.want {
				t.Errorf("error:\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestDidYouMean(t *testing.T) {
	keys := knownKeys([]string{"services", "web"})
	cases := []struct{ word, want string }{
		{"imgae", ` (did you mean "image"?)`},
		{"comand", ` (did you mean "command"?)`},
		{"enviroment", ` (did you mean "environment"?)`},
		{"dependson", ` (did you mean "depends_on"?)`},
		{"prots", ` (did you mean "ports"?)`},
		{"frobnicate", ""},
		{"xy", ""},
	}
	for _, tc := range cases {
		if got := didYouMean(tc.word, keys); got != tc.want {
			t.Errorf("didYouMean(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
	if len(keys) < 50 {
		t.Errorf("the schema knows only %d service keys: %v", len(keys), keys)
	}
}

// FuzzComposeErrors loads arbitrary compose files: loading never panics,
// and an error is one line that names the file.
func FuzzComposeErrors(f *testing.F) {
	for _, seed := range []string{
		"services:\n  web:\n    image: nginx\n    imgae: x\n",
		"services:\n  web:\n    image: nginx\n  ports:\n    - 80:80\n",
		"web:\n  image: x\n  dockerfile: D\n",
		"services:\n  a.b:\n    image: x\n    depends_on: [c]\n",
		"servics:\n  web: {}\n",
	} {
		f.Add(seed)
	}
	dir := f.TempDir()
	file := filepath.Join(dir, "docker-compose.yml")
	f.Fuzz(func(t *testing.T, text string) {
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(context.Background(), Options{Files: []string{file}, ProjectName: "fuzz"})
		if err == nil {
			return
		}
		msg := err.Error()
		if !strings.Contains(msg, "docker-compose.yml") {
			t.Errorf("error names no file: %s", msg)
		}
	})
}

// FallbackName gives the commands that can do without the files the name
// the project would have had: the name: key of a file that does not load,
// else the directory, normalised.
func TestFallbackName(t *testing.T) {
	cleanEnv(t)
	dir := filepath.Join(t.TempDir(), "Mon Site")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "docker-compose.yml")
	cases := []struct{ name, text, want string }{
		{"name key of a file with a schema error", "name: shop\nservices:\n  web:\n    imgae: x\n", "shop"},
		{"name key of a file that is not YAML", "name: shop\nservices:\n  web:\n   image: x\n  bad\n", "shop"},
		{"directory", "services:\n  web:\n    imgae: x\n", "monsite"},
		{"interpolated name left to compose", "name: ${X}\nservices: {}\n", "monsite"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(file, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := FallbackName(Options{Files: []string{file}}); got != tc.want {
				t.Errorf("FallbackName = %q, want %q", got, tc.want)
			}
		})
	}
	if got := FallbackName(Options{Files: []string{filepath.Join(dir, "absent.yml")}}); got != "" {
		t.Errorf("a missing -f file gives %q, want no name", got)
	}
	if got := FallbackName(Options{Files: []string{file}, ProjectName: "given"}); got != "given" {
		t.Errorf("-p gives %q", got)
	}
}
