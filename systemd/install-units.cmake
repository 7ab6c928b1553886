# install-units.cmake: run by `cmake --install` (see CMakeLists.txt). Writes tapd.service and the FUSE-mount
# drop-in for the prefix being installed to, then installs them (file(INSTALL) adds DESTDIR and records them
# in install_manifest.txt). Inputs: TAPD_UNIT_SRC, TAPD_UNIT_OUT, TAPD_UNIT_DIR, TAPD_SBINDIR, TAPD_DOCDIR,
# TAPD_DATADIR (GNUInstallDirs values: relative to the prefix unless absolute).
function(tapd_full_path dir out)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
  endif()
endfunction()
tapd_full_path("${TAPD_SBINDIR}" sbindir)
tapd_full_path("${TAPD_DOCDIR}" TAPD_DOCDIR_FULL)
tapd_full_path("${TAPD_DATADIR}/tapd" TAPD_DATADIR_FULL)
tapd_full_path("${TAPD_UNIT_DIR}" unitdir)
set(TAPD_BINARY "${sbindir}/tapd")

# One directory per destination: two installs running at once (a test's and a user's, say) must not
# install each other's files.
string(MD5 dest "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}")
set(out "${TAPD_UNIT_OUT}/${dest}")
configure_file("${TAPD_UNIT_SRC}/tapd.service.in" "${out}/tapd.service" @ONLY)
configure_file("${TAPD_UNIT_SRC}/fuse-mount.conf.in" "${out}/fuse-mount.conf" @ONLY)
file(INSTALL DESTINATION "${unitdir}" TYPE FILE FILES "${out}/tapd.service")
# Not in tapd.service.d/: a drop-in there would always apply. The README says how to enable it.
file(INSTALL DESTINATION "${TAPD_DATADIR_FULL}" TYPE FILE FILES "${out}/fuse-mount.conf")
