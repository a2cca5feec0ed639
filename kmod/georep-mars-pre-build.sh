#!/bin/sh
# DKMS PRE_BUILD for MARS trees built with the kernel's own Kbuild (the "kbuild" flavour of
# kmod/dkms.conf.j2, e.g. the WIP-qio-for-5.10 port). DKMS runs it in the copy of the sources
# it builds from. usage: georep-mars-pre-build.sh KERNELVER VERSION
#
# Why it exists: kernel/Kbuild lists mars_config.h and buildtag.h as extra-y targets, and
# Linux 5.x no longer builds extra-y targets for external modules (M=), so the two headers
# are made here. Written for georep.mars; no file of the MARS tree is changed.
set -eu
kver=${1:?usage: georep-mars-pre-build.sh KERNELVER VERSION}
version=${2:?usage: georep-mars-pre-build.sh KERNELVER VERSION}
cd kernel

# Kconfig.v5.4 knows MARS_CANNOT_USE_AIO_ANYMORE; its default is a $(shell ...) test that
# gen_config.pl cannot run. The test: does the kernel have QUEUE_FLAG_STABLE_WRITES (5.10+)?
# gen_config.pl takes an option's value from the environment when it is set there.
kconfig=Kconfig
[ -f Kconfig.v5.4 ] && kconfig=Kconfig.v5.4
new_block_layer=
for dir in "/lib/modules/$kver/source" "/lib/modules/$kver/build"; do
  if grep -qs QUEUE_FLAG_STABLE_WRITES "$dir/include/linux/blkdev.h"; then new_block_layer=y; fi
done
if [ -n "$new_block_layer" ]; then
  MARS_CANNOT_USE_AIO_ANYMORE=y
  export MARS_CANNOT_USE_AIO_ANYMORE
fi
perl ../scripts/gen_config.pl < "$kconfig" > mars_config.h 2>/dev/null

# A distribution kernel has none of MARS's kernel pre-patches. For 5.10 the v3b pre-patch only
# adds these two defines (its block major equals compat.h's fallback), so declare them here;
# without them mars_if.c takes the pre-3.x request path and does not compile.
if [ -n "$new_block_layer" ]; then
  printf '\n/* georep-mars-pre-build.sh: an out-of-tree build on an unpatched kernel */\n' >> mars_config.h
  printf '#define MARS_HAS_PREPATCH_V3\n#define MARS_HAS_PREPATCH_V3b\n' >> mars_config.h
fi

# The build tag starts with the DKMS version, so that modinfo and /sys/module/mars/version
# name the version the kmod role installed.
tree=$(cat ../DISTVERSION 2>/dev/null || echo unknown-tree)
{
  echo '/* made by georep-mars-pre-build.sh */'
  echo "#define BUILDTAG  \"$version $tree for $kver\""
  echo "#define BUILDHOST \"dkms@$(uname -n)\""
  echo "#define BUILDDATE \"$(date -u '+%Y-%m-%d %H:%M:%S')\""
} > buildtag.h
