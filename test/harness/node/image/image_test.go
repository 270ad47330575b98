package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

// An image archive is what `ctr images import` reads: a manifest naming
// the tag, a config with the entrypoint and user, one layer whose files
// carry their parent directories; the same image gives the same bytes.
func TestImageArchive(t *testing.T) {
	build := func() []byte {
		img := NewImage("example.test/x:1").NonrootUser()
		img.File("app/bin/tool", 0o755, []byte("#!/bin/sh\n"))
		img.Link("usr/bin/tool", "/app/bin/tool")
		img.Entrypoint, img.Cmd, img.User = []string{"/app/bin/tool"}, []string{"serve"}, "65532:65532"
		b, err := img.Archive()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a := build()
	if !bytes.Equal(a, build()) {
		t.Error("the same image gave different archives")
	}
	files := readTar(t, a)
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 || len(manifest[0].Layers) != 1 {
		t.Fatalf("manifest.json: %v %s", err, files["manifest.json"])
	}
	if got := manifest[0].RepoTags; len(got) != 1 || got[0] != "example.test/x:1" {
		t.Errorf("RepoTags %v", got)
	}
	var cfg struct {
		Config struct {
			Entrypoint, Cmd []string
			User            string
		}
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(files[manifest[0].Config], &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "65532:65532" || cfg.Config.Entrypoint[0] != "/app/bin/tool" || cfg.Config.Cmd[0] != "serve" || len(cfg.RootFS.DiffIDs) != 1 {
		t.Errorf("config: %+v", cfg)
	}
	layer := readTar(t, files[manifest[0].Layers[0]])
	for _, want := range []string{"app/", "app/bin/", "app/bin/tool", "usr/bin/tool", "etc/passwd", "home/nonroot/", "tmp/"} {
		if _, ok := layer[want]; !ok {
			t.Errorf("the layer lacks %s", want)
		}
	}
}

func readTar(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		out[h.Name] = body
	}
}
