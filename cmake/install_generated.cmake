# Runs at install time (install(SCRIPT) in cmake/install.cmake, after the install(CODE) that
# sets HAKMEM_*): writes the files that name absolute paths, the pkg-config files and the
# hakmem wrapper, for the prefix actually installed to, and installs them (file(INSTALL)
# adds DESTDIR and records them in install_manifest.txt).
foreach(v SRC GEN VERSION SONAME LIBDIR INCLUDEDIR BINDIR)
  if(NOT DEFINED HAKMEM_${v})
    message(FATAL_ERROR "install_generated.cmake: HAKMEM_${v} not set (run by cmake --install)")
  endif()
endforeach()

# One directory per destination: two installs of one tree (a prefix and cpack's staging) may
# run at once.
string(MD5 dest_hash "$ENV{DESTDIR}|${CMAKE_INSTALL_PREFIX}")
set(HAKMEM_GEN "${HAKMEM_GEN}/${dest_hash}")
string(REGEX REPLACE "(.)/+$" "\\1" HAKMEM_PREFIX "${CMAKE_INSTALL_PREFIX}")
# pkg-config paths relative to ${prefix} when they are under it; the wrapper's absolute.
foreach(d LIBDIR INCLUDEDIR BINDIR)
  if(IS_ABSOLUTE "${HAKMEM_${d}}")
    set(HAKMEM_PC_${d} "${HAKMEM_${d}}")
    set(HAKMEM_FULL_${d} "${HAKMEM_${d}}")
  else()
    set(HAKMEM_PC_${d} "\${prefix}/${HAKMEM_${d}}")
    set(HAKMEM_FULL_${d} "${HAKMEM_PREFIX}/${HAKMEM_${d}}")
  endif()
endforeach()
set(HAKMEM_LIBRARY "${HAKMEM_FULL_LIBDIR}/${HAKMEM_SONAME}")
set(HAKMEM_STAT "${HAKMEM_FULL_BINDIR}/hakmem-stat")

foreach(pc hakmem hakmem-static hakmem-override)
  configure_file(${HAKMEM_SRC}/cmake/${pc}.pc.in ${HAKMEM_GEN}/${pc}.pc @ONLY)
  file(INSTALL DESTINATION "${HAKMEM_FULL_LIBDIR}/pkgconfig" TYPE FILE FILES ${HAKMEM_GEN}/${pc}.pc)
endforeach()
configure_file(${HAKMEM_SRC}/tools/hakmem.in ${HAKMEM_GEN}/hakmem @ONLY)
file(INSTALL DESTINATION "${HAKMEM_FULL_BINDIR}" TYPE PROGRAM FILES ${HAKMEM_GEN}/hakmem)
