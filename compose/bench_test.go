package compose

import (
	"context"
	"testing"
)

// BenchmarkLoad loads the fullest test project: compose-go, the
// rancher-compose parser, policies and hashes.
func BenchmarkLoad(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := Load(context.Background(), Options{ProjectDir: "testdata/projects/full"}); err != nil {
			b.Fatal(err)
		}
	}
}
