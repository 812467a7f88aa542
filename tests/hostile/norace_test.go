//go:build !race

package hostile

// raceEnabled reports a build with the race detector, which makes every
// step several times slower.
const raceEnabled = false
