// Package model is ebb's shared vocabulary: directions, reasons, recommendations
// and decisions. It imports nothing else of ebb, so every layer (policies, the
// engine, the simulator, the daemon) can speak it.
package model
