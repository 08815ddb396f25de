// Package sim replays history through the engine on a virtual clock. The
// signals replay (ReplaySignals) feeds recorded signal values straight to the
// engine and models instances that become ready a boot delay after launch;
// the engine's code is the daemon's, with nothing simulated about decisions.
package sim
