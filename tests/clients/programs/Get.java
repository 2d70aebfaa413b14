// One GET with java.net.http.HttpClient.
//
// Trust: JAVA_TOOL_OPTIONS from the sandbox environment points the JVM at Airlock's PKCS#12 truststore;
// nothing here touches TLS.
//
// Proxy: Java reads no HTTPS_PROXY, so this program takes host, port, user and password from it, gives the
// client a ProxySelector and sends the credentials preemptively as Proxy-Authorization (the JDK moves that
// header onto the CONNECT). An Authenticator answering Airlock's 407 would also open the tunnel, but with
// an Authenticator set the JDK drops the request's own Authorization header, so the Bearer token would
// never be sent. Either way the JDK refuses Basic for CONNECT tunnels by default
// (jdk.http.auth.tunneling.disabledSchemes=Basic since 8u111: it strips the header and the client gets the
// proxy's 407), so the program must be run with -Djdk.http.auth.tunneling.disabledSchemes= (empty). Every
// Java client of a Basic-authenticating proxy meets that limit.
//
//   java -Djdk.http.auth.tunneling.disabledSchemes= -cp DIR Get URL      (token from API_TOKEN)
import java.net.InetSocketAddress;
import java.net.ProxySelector;
import java.net.URI;
import java.net.URLDecoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;

public class Get {
    public static void main(String[] args) throws Exception {
        String proxyVariable = System.getenv("HTTPS_PROXY");
        if (proxyVariable == null) proxyVariable = System.getenv("https_proxy");
        if (proxyVariable == null) throw new IllegalStateException("HTTPS_PROXY is not set");
        URI proxy = URI.create(proxyVariable);
        String[] userInfo = proxy.getRawUserInfo() == null ? new String[0] : proxy.getRawUserInfo().split(":", 2);
        String user = userInfo.length > 0 ? URLDecoder.decode(userInfo[0], StandardCharsets.UTF_8) : null;
        String password = userInfo.length > 1 ? URLDecoder.decode(userInfo[1], StandardCharsets.UTF_8) : "";

        HttpClient client = HttpClient.newBuilder()
                .proxy(ProxySelector.of(new InetSocketAddress(proxy.getHost(), proxy.getPort())))
                .connectTimeout(Duration.ofSeconds(30))
                .build();
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(args[0]))
                .header("Authorization", "Bearer " + System.getenv("API_TOKEN"))
                .timeout(Duration.ofSeconds(30))
                .GET();
        if (user != null) {
            String basic = Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
            request.header("Proxy-Authorization", "Basic " + basic);
        }
        HttpResponse<String> response = client.send(request.build(), HttpResponse.BodyHandlers.ofString());
        System.out.println(response.statusCode());
        System.out.println(response.body());
        System.exit(response.statusCode() >= 200 && response.statusCode() < 300 ? 0 : 1);
    }
}
