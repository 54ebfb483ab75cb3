// Marks the page once the script has run, so a browser test can tell that it loaded.
document.addEventListener("DOMContentLoaded", () => {
  const status = document.getElementById("status");
  status.textContent = "Script loaded: served by flashstatic.";
  status.classList.add("ready");
});
