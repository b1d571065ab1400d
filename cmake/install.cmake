# Installing hakmem the way jemalloc, mimalloc and tcmalloc install (issue 15): libraries,
# headers, a CMake package, pkg-config files, the tools, man pages, docs, and the Debian
# package built by CPack (scripts/package). Included from the top-level CMakeLists.txt in
# non-sanitizer trees, after every component, so the targets below exist.
include(CMakePackageConfigHelpers)

# ---- Libraries and headers, exported as hakmem::hakmem, hakmem::static, hakmem::override
set(HAKMEM_PACKAGE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/hakmem)
set(hakmem_export_targets hakmem_shared hakmem_static hakmem_override_static)
if(TARGET hakmem_override)
  list(APPEND hakmem_export_targets hakmem_override)
endif()
install(TARGETS ${hakmem_export_targets} EXPORT hakmemTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/hakmem DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT hakmemTargets NAMESPACE hakmem:: DESTINATION ${HAKMEM_PACKAGE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/hakmemConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/hakmemConfig.cmake INSTALL_DESTINATION ${HAKMEM_PACKAGE_DIR})
# 0.x: a new minor version may change the API, so only the same minor one is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/hakmemConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/hakmemConfig.cmake
              ${PROJECT_BINARY_DIR}/cmake/hakmemConfigVersion.cmake
        DESTINATION ${HAKMEM_PACKAGE_DIR})

# ---- Files that name absolute install paths: the pkg-config files and the hakmem wrapper.
# They are written at install time, for the prefix really installed to (cmake --install
# --prefix P, or /usr inside the .deb), not the one configured.
get_target_property(hakmem_soversion hakmem_shared SOVERSION)
install(CODE "
  set(HAKMEM_SRC [[${PROJECT_SOURCE_DIR}]])
  set(HAKMEM_GEN [[${PROJECT_BINARY_DIR}/install-gen]])
  set(HAKMEM_VERSION [[${PROJECT_VERSION}]])
  set(HAKMEM_SONAME [[libhakmem.so.${hakmem_soversion}]])
  set(HAKMEM_LIBDIR [[${CMAKE_INSTALL_LIBDIR}]])
  set(HAKMEM_INCLUDEDIR [[${CMAKE_INSTALL_INCLUDEDIR}]])
  set(HAKMEM_BINDIR [[${CMAKE_INSTALL_BINDIR}]])
  set(HAKMEM_PRIVATE_LIBS [[${CMAKE_THREAD_LIBS_INIT} ${CMAKE_DL_LIBS}]])")
install(SCRIPT ${CMAKE_CURRENT_LIST_DIR}/install_generated.cmake)

# ---- Man pages (hakmem-stat's and vfsd's only when the program is built) and docs
set(hakmem_man_pages hakmem)
foreach(prog hakmem-stat vfsd)
  if(TARGET ${prog})
    list(APPEND hakmem_man_pages ${prog})
  endif()
endforeach()
foreach(page ${hakmem_man_pages})
  configure_file(${PROJECT_SOURCE_DIR}/man/${page}.1 ${PROJECT_BINARY_DIR}/man/${page}.1 @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/man/${page}.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/LICENSE
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
# Debian looks for the licence under this name.
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME copyright)
install(FILES ${PROJECT_SOURCE_DIR}/tools/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR}
        RENAME README.hakmem-stat.md)
install(FILES ${PROJECT_SOURCE_DIR}/vfsd/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR}
        RENAME README.vfsd.md)

# ---- The Debian package (scripts/package: a tree configured for /usr, then cpack -G DEB)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME hakmem)
set(CPACK_PACKAGE_VENDOR "hakmem authors")
set(CPACK_PACKAGE_CONTACT "hakmem authors")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "thread-caching slab allocator: malloc replacement, static library, tools")
# The body of the Description field (CPack puts the summary above it and indents it).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "hakmem replaces malloc, free and operator new/delete
through LD_PRELOAD of libhakmem.so (or the hakmem run wrapper), by linking
libhakmem.so, or statically (libhakmem_override.a); libhakmem.a has the
prefixed hak_* API only. With the headers, a CMake package, pkg-config files,
hakmem-stat (live counters of profiled processes) and vfsd (a FUSE filesystem
with a write pool on hakmem).")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
# Depends computed from the binaries; a shlibs file so packages built against libhakmem.so
# depend on this one. CPack adds postinst/postrm running ldconfig (library in /usr/lib/...).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "fuse3")  # fusermount3, to unmount vfsd as a user
# Install with DESTDIR, so CMAKE_INSTALL_PREFIX is /usr while install_generated.cmake runs.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
include(CPack)
