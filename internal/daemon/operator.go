// Placeholder: replaced when the fleet operator actions land.

package daemon

import (
	"context"
	"fmt"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// Terminate drains an instance and lowers desired by one (or keeps it with
// req.Replace); req.Now stops it at once. Not implemented yet.
func (d *Daemon) Terminate(ctx context.Context, group, id string, req TerminateRequest) (model.Instance, error) {
	return model.Instance{}, fmt.Errorf("not implemented: %w", ErrInvalid)
}

// Protect keeps an instance from being chosen for scale-in. Not implemented
// yet.
func (d *Daemon) Protect(group, id string) (model.Instance, error) {
	return model.Instance{}, fmt.Errorf("not implemented: %w", ErrInvalid)
}

// Unprotect makes an instance a scale-in candidate again. Not implemented
// yet.
func (d *Daemon) Unprotect(group, id string) (model.Instance, error) {
	return model.Instance{}, fmt.Errorf("not implemented: %w", ErrInvalid)
}
