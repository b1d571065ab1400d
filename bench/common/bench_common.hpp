// Shared helpers of the whole-program workloads in bench/workloads/ (one header to include).
//   measure.hpp  timing, page faults (getrusage), RSS (VmRSS / VmHWM)
//   rng.hpp      deterministic random numbers
//   touch.hpp    writing / verifying object contents, checksums
//   report.hpp   the RESULT line
//   cli.hpp      command-line parsing (CLI11) with the options common to all workloads
#pragma once

#include "cli.hpp"
#include "measure.hpp"
#include "report.hpp"
#include "rng.hpp"
#include "touch.hpp"
