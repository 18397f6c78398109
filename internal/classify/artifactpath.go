package classify

import "strings"

// checkArtifactPath refuses an artifact path (a query, body or path value,
// decoded once, as werkzeug and Starlette decode it) that is not in
// canonical form.
//
// MLflow's permission check for the artifact proxy finds the experiment by
// matching the path's first segment against an ID; a path it cannot match
// falls back to the default permission. Its handlers then normalise the
// same path (validate_path_is_safe decodes it again, the file system drops
// "." segments, a file: URI becomes a path). So "./2/<run>/artifacts"
// names no experiment to the check and experiment 2's files to the handler
// (issue 15). Every spelling that the two could read differently is
// refused: "." and ".." segments, empty segments, a leading '/', '\',
// percent-escapes left after decoding (MLflow decodes up to ten more
// times), control characters, '#', and a file: scheme. One trailing '/'
// is accepted: MLflow's check and handlers both ignore it, and clients send
// it for directories. The empty path (the root) is accepted.
func checkArtifactPath(p string) *Rejection {
	if p == "" {
		return nil
	}
	if rej := artifactChars(p); rej != nil {
		return rej
	}
	if p[0] == '/' {
		return badArtifactPath("must be relative (no leading '/')")
	}
	if first, _, _ := strings.Cut(p, "/"); len(first) >= 5 && strings.EqualFold(first[:5], "file:") {
		return badArtifactPath("must not be a file: URI")
	}
	rest := strings.TrimSuffix(p, "/")
	for seg := range strings.SplitSeq(rest, "/") {
		switch seg {
		case "":
			return badArtifactPath("has an empty segment")
		case ".", "..":
			return badArtifactPath("has a %q segment", seg)
		}
	}
	return nil
}

// checkUploadName refuses the body field "path" of the multipart-upload
// RPCs (mpu/create, complete, abort). MLflow's own client sends its local
// file name there, often absolute; the artifact store keeps only the base
// name and puts it under the artifact path of the URL. So the base name is
// what must be canonical: one segment, not "." or "..", none of the
// characters checkArtifactPath refuses.
func checkUploadName(p string) *Rejection {
	if rej := artifactChars(p); rej != nil {
		return rej
	}
	base := p[strings.LastIndexByte(p, '/')+1:]
	switch base {
	case "":
		return badArtifactPath("names no file")
	case ".", "..":
		return badArtifactPath("names %q as the file", base)
	}
	return nil
}

// checkArtifactPaths applies the artifact path rules to every artifact
// path and upload name the request carries, from any source.
func (c *collector) checkArtifactPaths() *Rejection {
	for i := range c.obs {
		o := &c.obs[i]
		var check func(string) *Rejection
		switch o.kind {
		case idArtifactPath:
			check = checkArtifactPath
		case idUploadName:
			check = checkUploadName
		default:
			continue
		}
		for _, v := range o.vals {
			if rej := check(v); rej != nil {
				return rej
			}
		}
	}
	return nil
}

// artifactChars refuses the characters no canonical artifact path holds.
func artifactChars(p string) *Rejection {
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c < 0x20 || c == 0x7f:
			return badArtifactPath("has a control character")
		case c == '\\':
			return badArtifactPath("has a backslash")
		case c == '#':
			return badArtifactPath("has a '#'")
		case c == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]):
			return badArtifactPath("is percent-encoded after decoding")
		}
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func badArtifactPath(format string, args ...any) *Rejection {
	return reject("non_canonical_artifact_path", "artifact path "+format, args...)
}
