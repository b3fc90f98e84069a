//go:build !unix

package fingerprint

import "errors"

func kernelRelease() (string, error) { return "", errors.ErrUnsupported }

func machine() (string, error) { return "", errors.ErrUnsupported }
