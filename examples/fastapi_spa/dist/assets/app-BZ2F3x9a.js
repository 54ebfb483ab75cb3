// What a bundler would emit: render the route the address bar shows, then ask the API.
const root = document.getElementById("root");
root.textContent = `route ${location.pathname}`;
fetch("/api/greeting")
  .then((response) => response.json())
  .then((greeting) => {
    root.textContent += ` / ${greeting.text}`;
  });
