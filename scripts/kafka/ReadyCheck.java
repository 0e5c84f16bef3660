// Readiness probe for scripts/test-services: a real metadata request through
// the Kafka admin client. Run as a single source file:
//   java -cp 'libs/*' ReadyCheck.java 127.0.0.1:19092
// Exit 0 when the broker answered with at least one node, 1 otherwise.
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

public class ReadyCheck {
    public static void main(String[] args) {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
        try (Admin admin = Admin.create(props)) {
            int nodes = admin.describeCluster().nodes().get(5, TimeUnit.SECONDS).size();
            admin.listTopics().names().get(5, TimeUnit.SECONDS);
            if (nodes < 1) {
                System.err.println("ready check: no broker in the cluster metadata");
                System.exit(1);
            }
            System.exit(0);
        } catch (Exception e) {
            System.err.println("ready check: " + e);
            System.exit(1);
        }
    }
}
