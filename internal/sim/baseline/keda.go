package baseline

import (
	"github.com/ebb-autoscaler/ebb/internal/config"
)

// keda is a KEDA ScaledObject with one queue trigger at KEDA's defaults,
// per "ScaledObject specification" (keda.sh) and the queue scalers' docs:
//
//   - the trigger's target is an AverageValue of items per replica (KEDA's
//     queueLength: "if one pod can handle 10 messages, set the queue
//     length target to 10; with 30 messages the scaler scales to 3 pods"),
//     here the workload's Target, and the HPA KEDA creates sizes 1 ↔ N
//     with the HPA rules and default behavior (see hpa);
//   - activation threshold 0 (the scalers' default): the group wakes from
//     0 to 1 on the first item;
//   - cooldownPeriod 300 s: after the last time the trigger was active, the
//     group goes back to minReplicaCount, 0 when the group's min is 0
//     (KEDA's default minReplicaCount is 0; the group's own floor is kept
//     when it is higher);
//   - pollingInterval 30 s.
//
// In ebb the trigger is a queue policy (ceil(items ÷ per replica), 0 at or
// below the activation) and the HPA's 300 s scale-down window doubles as
// the cooldownPeriod: a scale to 0 needs every recommendation of the last
// 300 s to be 0, i.e. the trigger inactive for 300 s.
//
// What ebb does not reproduce: a group is evaluated on one interval, so
// the preset keeps the HPA's 15 s sync period for scaling 1 ↔ N and checks
// activation (0 → 1) every 15 s too, where KEDA polls it every
// pollingInterval, 30 s: the preset wakes a group at zero up to 15 s
// sooner than KEDA would.
func keda(g config.Group, t Target) (spec, error) {
	return spec{
		min:      g.Capacity.Min,
		interval: hpaSync,
		signals:  pushed(t.Signal),
		policies: hpaPolicy("keda", t, 0),
		behavior: hpaBehavior,
	}, nil
}
