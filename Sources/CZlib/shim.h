// The system zlib (Debian's zlib1g-dev), as compress-nio already links it: stored content is compressed with it.
#include <zlib.h>
